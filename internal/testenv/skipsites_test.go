package testenv

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// allowSkip marks a direct skip that is not for want of an environment
// (-short asked for it, a test of Goexit itself); it must be on the line of
// the call and say why.
const allowSkip = "// not an environment skip:"

// directSkips returns the positions of the calls to a method named Skip,
// Skipf or SkipNow in file that are not marked with allowSkip. A call of a
// package's function (testenv.Skip) is not a method call and not counted.
func directSkips(fset *token.FileSet, file *ast.File) []token.Position {
	pkgs := make(map[string]bool)
	for _, imp := range file.Imports {
		name := path.Base(strings.Trim(imp.Path.Value, `"`))
		if imp.Name != nil {
			name = imp.Name.Name
		}
		pkgs[name] = true
	}
	allowed := make(map[int]bool)
	for _, cg := range file.Comments {
		for _, c := range cg.List {
			if strings.HasPrefix(c.Text, allowSkip) && len(strings.TrimSpace(strings.TrimPrefix(c.Text, allowSkip))) > 0 {
				allowed[fset.Position(c.Slash).Line] = true
			}
		}
	}
	var found []token.Position
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && pkgs[x.Name] {
			return true
		}
		switch sel.Sel.Name {
		case "Skip", "Skipf", "SkipNow":
			if p := fset.Position(sel.Sel.Pos()); !allowed[p.Line] {
				found = append(found, p)
			}
		}
		return true
	})
	return found
}

func TestDirectSkips(t *testing.T) {
	const src = `package p

import "example.com/testenv"

func f(t, b T) {
	t.Skip("no ip")
	t.Skipf("no %s", "ip")
	b.Skip()
	t.SkipNow()
	t.Skip("short") // not an environment skip: -short asks for it
	t.SkipNow() // not an environment skip:
	t.Skipf("x") // a comment that is not the marker
	Skip(t, "through testenv")
	testenv.Skip(t, "through testenv")
}
`
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "p.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, p := range directSkips(fset, file) {
		lines = append(lines, p.Line)
	}
	// Line 11's marker gives no reason, so it does not count.
	want := []int{6, 7, 8, 9, 11, 12}
	if len(lines) != len(want) {
		t.Fatalf("direct skips on lines %v, want %v", lines, want)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Fatalf("direct skips on lines %v, want %v", lines, want)
		}
	}
}

// TestNoDirectSkips fails for every Go file of the module, outside this
// package, that skips a test directly: an environment skip must go through
// Skip so that CI (GOVS_TEST_NOSKIP=1) fails instead of skipping.
func TestNoDirectSkips(t *testing.T) {
	root := moduleRoot(t)
	self, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor") || path == self {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != root {
				return filepath.SkipDir // another module
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		files++
		for _, p := range directSkips(fset, file) {
			rel, _ := filepath.Rel(root, p.Filename)
			t.Errorf("%s:%d: direct skip: use testenv.Skip for a missing environment, or say on the line %q why it is not one", rel, p.Line, allowSkip+" …")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("scanned only %d Go files under %s: is that the module root?", files, root)
	}
}

// moduleRoot is the directory holding the go.mod above this package.
func moduleRoot(t *testing.T) string {
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
}
