package httpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/pspconnect/pspconnect/models"
)

// decodeBody reads the JSON request body of a write route into v and validates it with
// models.Validate. It answers the request itself and returns false when the body is refused: 415
// for a Content-Type other than application/json (a missing one is accepted), 400 for a body that
// is too large, empty, malformed, has trailing data or a value of the wrong type or format (naming
// the field when it can), 400 with the ValidationError's text for a body that breaks the contract,
// and 408 (retried by Formance) when the body cannot be read to its end. Fields the contract does
// not define are accepted: Formance may add some.
func decodeBody[T any](w http.ResponseWriter, r *http.Request, what string, limit int64, v *T) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.EqualFold(ct, "application/json") {
		mediaType, _, err := mime.ParseMediaType(ct)
		if err != nil || mediaType != "application/json" {
			WriteError(w, http.StatusUnsupportedMediaType, "",
				fmt.Sprintf("Content-Type %q is not supported: send the %s as application/json", ct, what))
			return false
		}
	}
	buf := bodyBuffers.Get().(*[]byte)
	defer putBodyBuffer(buf) // what is decoded from body is copied out of it
	body, err := readBody(r, limit, (*buf)[:0])
	*buf = body
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			WriteError(w, http.StatusBadRequest, "", bodyTooLarge(tooLarge.Limit))
			return false
		}
		if errors.Is(err, errLongerThanDeclared) {
			WriteError(w, http.StatusBadRequest, "", err.Error())
			return false
		}
		// The connection failed or timed out: 408, which Formance retries, and no error text (it
		// names network addresses).
		WriteError(w, http.StatusRequestTimeout, "", "cannot read the request body: the connection failed or timed out before the whole body arrived; nothing was done, send the request again")
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		WriteError(w, http.StatusBadRequest, "", fmt.Sprintf("request body is empty: want the %s as a JSON object", what))
		return false
	}
	if err := models.DecodeRequest(body, v); err != nil {
		WriteError(w, http.StatusBadRequest, "", fmt.Sprintf("malformed %s: %s", what, describeDecodeError(err, body, v)))
		return false
	}
	if err := models.Validate(v); err != nil {
		WriteError(w, http.StatusBadRequest, "", err.Error())
		return false
	}
	return true
}

// errLongerThanDeclared: the body goes on past its Content-Length (possible only in a request built
// by hand: net/http's server ends a body where its Content-Length says).
var errLongerThanDeclared = errors.New("request body is longer than its Content-Length")

// readBody appends r's body to buf. A body of known length is read to its end, and one longer than
// limit fails with an *http.MaxBytesError; one of unknown length is read through the
// http.MaxBytesReader that limitBody put in front of it.
func readBody(r *http.Request, limit int64, buf []byte) ([]byte, error) {
	if r.Body == nil {
		return buf, nil
	}
	n := r.ContentLength
	if n < 0 {
		b := bytes.NewBuffer(buf)
		_, err := b.ReadFrom(r.Body)
		return b.Bytes(), err
	}
	if n > limit {
		return buf, &http.MaxBytesError{Limit: limit}
	}
	// Read one byte more than announced, to see the body end where it says (net/http's request
	// bodies do; a request built by hand may not).
	buf = slices.Grow(buf[:0], int(n)+1)[:n+1]
	m, err := io.ReadFull(r.Body, buf)
	switch {
	case m == int(n) && (err == io.ErrUnexpectedEOF || err == io.EOF):
		return buf[:n], nil
	case m > int(n):
		return buf[:m], errLongerThanDeclared
	case err == nil:
		err = io.ErrUnexpectedEOF
	}
	return buf[:m], err
}

// describeDecodeError explains a json.Unmarshal error, naming the field when possible.
func describeDecodeError(err error, body []byte, dst any) string {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("invalid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return fmt.Sprintf("want a JSON object, got a JSON %s", typeErr.Value)
		}
		return fmt.Sprintf("field %q: want %s, got a JSON %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value)
	}
	// An error from a field's own UnmarshalJSON (models.Amount, models.Asset, the enums) does not say
	// which field it came from: find it by decoding the fields one by one.
	if field := failingField(body, dst); field != "" {
		return fmt.Sprintf("field %q: %v", field, err)
	}
	return err.Error()
}

// failingField returns the JSON name of the first top-level field of the struct dst points to whose
// value in body fails to decode, or "".
func failingField(body []byte, dst any) string {
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		return ""
	}
	t := reflect.TypeOf(dst).Elem()
	if t.Kind() != reflect.Struct {
		return ""
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		for key, value := range raw {
			// encoding/json matches keys case-insensitively, and so does this search.
			if !strings.EqualFold(key, name) {
				continue
			}
			if json.Unmarshal(value, reflect.New(f.Type).Interface()) != nil {
				return name
			}
		}
	}
	return ""
}

// jsonKind names the JSON value expected for a Go type, for error details.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a JSON string"
	case reflect.Map, reflect.Struct:
		return "a JSON object"
	case reflect.Slice, reflect.Array:
		return "a JSON array"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a JSON number"
	}
	return "a value of type " + t.String()
}
