package archtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/govs-lb/govs"

// listed is one row of the package map: a package and the govs packages
// it imports.
type listed struct {
	imports []string
	line    int
}

// packageMap reads the table under "## Package map" in CONTRIBUTING.md:
// rows of the form | `pkg` | job | `a`, `b` | (— for none).
func packageMap(t *testing.T, path string) map[string]listed {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]listed{}
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Package map"
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 3 {
			t.Fatalf("%s:%d: want 3 cells (package | job | imports), got %d", path, n, len(cells))
		}
		pkg := strings.Trim(strings.TrimSpace(cells[0]), "`")
		if _, dup := m[pkg]; dup {
			t.Fatalf("%s:%d: %s listed twice", path, n, pkg)
		}
		var imps []string
		for _, c := range strings.Split(cells[2], ",") {
			c = strings.Trim(strings.TrimSpace(c), "`")
			if c != "" && c != "—" {
				imps = append(imps, c)
			}
		}
		slices.Sort(imps)
		m[pkg] = listed{imports: imps, line: n}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(m) == 0 {
		t.Fatalf("%s: no package map found under \"## Package map\"", path)
	}
	return m
}

// goList returns each package of the module with the govs packages its
// non-test files import, paths relative to the module.
func goList(t *testing.T, root string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	got := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		var imps []string
		for _, imp := range p.Imports {
			if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
				imps = append(imps, rel)
			}
		}
		slices.Sort(imps)
		got[strings.TrimPrefix(p.ImportPath, module+"/")] = imps
	}
	return got
}

func TestPackageMapMatchesImports(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(root, "CONTRIBUTING.md")
	want := packageMap(t, doc)
	got := goList(t, root)
	for pkg, imps := range got {
		l, ok := want[pkg]
		if !ok {
			t.Errorf("CONTRIBUTING.md: package %s is missing from the package map (it imports %s)", pkg, orNone(imps))
			continue
		}
		if !slices.Equal(l.imports, imps) {
			t.Errorf("CONTRIBUTING.md:%d: %s imports %s, the map says %s", l.line, pkg, orNone(imps), orNone(l.imports))
		}
	}
	for pkg, l := range want {
		if _, ok := got[pkg]; !ok {
			t.Errorf("CONTRIBUTING.md:%d: %s is not a package of the module", l.line, pkg)
		}
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
