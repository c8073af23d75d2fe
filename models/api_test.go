package models_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"strings"
	"testing"
)

// TestValidatorStaysInside: no exported declaration of package models mentions the
// go-playground validator, so that it can change without changing the public API (its errors
// come out as *models.ValidationError).
func TestValidatorStaysInside(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || !fn.Name.IsExported() {
					continue
				}
				ast.Inspect(fn.Type, func(n ast.Node) bool {
					if sel, ok := n.(*ast.SelectorExpr); ok {
						if id, ok := sel.X.(*ast.Ident); ok && id.Name == "validator" {
							t.Errorf("%s: exported %s uses validator.%s", fset.Position(fn.Pos()), fn.Name.Name, sel.Sel.Name)
						}
					}
					return true
				})
			}
		}
	}
}
