package pgfeed

import (
	"bytes"
	"errors"
	"time"

	"github.com/pspconnect/pspconnect/models"
)

// errNotFast says that an item is not in the shape decodeTransaction reads; the caller decodes it
// with encoding/json instead.
var errNotFast = errors.New("pgfeed: not in the fast decoder's shape")

// decodeTransaction decodes one stored transaction, as encoding/json wrote it (no white space,
// strings without escapes), five to ten times faster than json.Unmarshal, which takes most of a
// page's CPU. Anything else, an escaped string, a number, an unknown field, a time or amount that
// does not parse, returns errNotFast, and the item is decoded with encoding/json: the result is
// always the same as json.Unmarshal's (TestFastDecoderMatchesEncodingJSON). Enum and asset values
// are not checked here: the handler validates every item it serves.
func decodeTransaction(b []byte, t *models.Transaction) error {
	p := fastParser{b: b}
	if !p.byte('{') {
		return errNotFast
	}
	if p.byte('}') {
		return nil
	}
	for {
		key, ok := p.str()
		if !ok || !p.byte(':') {
			return errNotFast
		}
		if key == "metadata" {
			if !p.metadata(&t.Metadata) {
				return errNotFast
			}
		} else {
			v, ok := p.str()
			if !ok {
				return errNotFast
			}
			switch key {
			case "id":
				t.ID = v
			case "relatedTransactionID":
				t.RelatedTransactionID = v
			case "createdAt", "updatedAt":
				at, err := time.Parse(time.RFC3339Nano, v)
				if err != nil {
					return errNotFast
				}
				if key == "createdAt" {
					t.CreatedAt = at
				} else {
					t.UpdatedAt = at
				}
			case "currency":
				t.Currency = models.Asset(v)
			case "scheme":
				t.Scheme = v
			case "type":
				t.Type = models.TransactionType(v)
			case "status":
				t.Status = models.TransactionStatus(v)
			case "amount":
				a, err := models.ParseAmount(v)
				if err != nil {
					return errNotFast
				}
				t.Amount = a
			case "sourceAccountID":
				t.SourceAccountID = v
			case "destinationAccountID":
				t.DestinationAccountID = v
			default:
				return errNotFast
			}
		}
		if p.byte('}') {
			if p.i != len(p.b) {
				return errNotFast
			}
			return nil
		}
		if !p.byte(',') {
			return errNotFast
		}
	}
}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a JSON string without escapes (a backslash or a control character: not fast).
func (p *fastParser) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	end := bytes.IndexByte(p.b[p.i:], '"')
	if end < 0 {
		return "", false
	}
	s := p.b[p.i : p.i+end]
	if bytes.IndexByte(s, '\\') >= 0 {
		return "", false
	}
	for _, c := range s {
		if c < 0x20 {
			return "", false
		}
	}
	p.i += end + 1
	return string(s), true
}

func (p *fastParser) metadata(m *models.Metadata) bool {
	if bytes.HasPrefix(p.b[p.i:], []byte("null")) {
		p.i += 4
		*m = nil
		return true
	}
	if !p.byte('{') {
		return false
	}
	out := models.Metadata{}
	if p.byte('}') {
		*m = out
		return true
	}
	for {
		k, ok := p.str()
		if !ok || !p.byte(':') {
			return false
		}
		v, ok := p.str()
		if !ok {
			return false
		}
		out[k] = v
		if p.byte('}') {
			*m = out
			return true
		}
		if !p.byte(',') {
			return false
		}
	}
}
