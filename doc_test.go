package pspconnect_test

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestDocExampleCompiles type-checks the complete provider of the package documentation (doc.go's
// "package main" block) against the library as it is, so the overview cannot fall behind a rename.
func TestDocExampleCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checking the doc example needs the compiled packages (go list -export): skipped with -short")
	}
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	code := docBlock(string(src), "package main")
	if code == "" {
		t.Fatal(`doc.go has no indented code block starting with "package main"`)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	// The file is named as if it were in this directory, so that imports resolve in this module.
	f, err := parser.ParseFile(fset, filepath.Join(wd, "doc_example_main.go"), code, 0)
	if err != nil {
		t.Fatalf("doc.go's example does not parse: %v\n%s", err, code)
	}
	exports := exportData(t, f)
	lookup := func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %q", path)
		}
		return os.Open(file)
	}
	var errs []string
	conf := types.Config{
		Importer: importer.ForCompiler(fset, "gc", lookup),
		Error:    func(err error) { errs = append(errs, err.Error()) },
	}
	_, _ = conf.Check("main", fset, []*ast.File{f}, nil)
	if len(errs) > 0 {
		t.Fatalf("doc.go's example does not compile:\n%s", strings.Join(errs, "\n"))
	}
}

// exportData compiles the packages f imports, with their dependencies, and returns the export data
// file of each by import path.
func exportData(t *testing.T, f *ast.File) map[string]string {
	t.Helper()
	args := []string{"list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}"}
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, path)
	}
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), args...).Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	exports := map[string]string{}
	for line := range strings.Lines(string(out)) {
		path, file, _ := strings.Cut(strings.TrimSpace(line), "\t")
		if file != "" {
			exports[path] = file
		}
	}
	return exports
}

// docBlock returns the code of the indented block of a Go doc comment that starts with the line
// first: the lines after "//\t", up to the first comment line that is not indented (blank lines
// inside the block kept).
func docBlock(src, first string) string {
	var b strings.Builder
	in := false
	for line := range strings.Lines(src) {
		line = strings.TrimRight(line, "\n")
		code, indented := strings.CutPrefix(line, "//\t")
		switch {
		case !in && indented && code == first:
			in = true
		case in && line == "//":
			// a blank line inside the block, or its end: kept either way
		case in && !indented:
			return b.String()
		}
		if in {
			b.WriteString(code)
			b.WriteString("\n")
		}
	}
	return b.String()
}
