package configs

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"
)

// TestManualHasEveryKey checks that vrrpd.toml(5) documents every key the parser accepts, so the
// two cannot drift: testdata/full.toml sets every key (and must load, so it holds no key the
// parser rejects), and each key it sets, "instance.track_interfaces.weight" say, must be an entry
// of the manual's [[instance]] section, inside track_interfaces' entry.
func TestManualHasEveryKey(t *testing.T) {
	if _, err := Load("testdata/full.toml"); err != nil {
		t.Fatalf("testdata/full.toml must load to say what the parser accepts: %v", err)
	}
	var root map[string]any
	md, err := toml.DecodeFile("testdata/full.toml", &root)
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("man/vrrpd.toml.5")
	if err != nil {
		t.Fatal(err)
	}
	documented := manualKeys(string(page))
	var missing []string
	for _, k := range md.Keys() {
		switch md.Type(k...) {
		case "Hash", "ArrayHash": // a [table] or an [[array of tables]]: its keys are checked
			continue
		}
		if key := k.String(); !documented[key] && !slices.Contains(missing, key) {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		t.Errorf("vrrpd.toml(5) lacks these keys of testdata/full.toml: %s", strings.Join(missing, ", "))
	}
}

// manualKeys lists the keys vrrpd.toml(5) documents: each ".It Ic KEY" entry of a list under a
// ".Ss [TABLE]" heading is TABLE.KEY, and an entry of a list inside KEY's entry is TABLE.KEY.SUB.
func manualKeys(page string) map[string]bool {
	keys := map[string]bool{}
	table := ""
	var path []string // the key entry at each depth of the lists open in this section
	depth := 0
	for line := range strings.Lines(page) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case ".Sh":
			table, depth, path = "", 0, nil
		case ".Ss":
			table, depth, path = strings.Trim(strings.TrimSuffix(f[len(f)-1], `\&`), "[]"), 0, nil
		case ".Bl":
			depth++
		case ".El":
			depth--
		case ".It":
			if table == "" || len(f) < 3 || f[1] != "Ic" || len(path) < depth-1 {
				continue
			}
			path = append(path[:depth-1], f[2])
			keys[table+"."+strings.Join(path, ".")] = true
		}
	}
	return keys
}

// manualKeys reads the shape the page's header comment describes, and nothing else.
func TestManualKeysReader(t *testing.T) {
	page := `.Sh DESCRIPTION
.Bl -tag -width Ds
.It Ic notakey
.El
.Ss [global]\&
.Bl -tag -width Ds
.It Ic router_id Pq string
Text.
.Bl -tag -width Ds
.It Cm a value, not a key
.El
.It Ic socket
.El
.Ss [[instance]]\&
.Bl -tag -width Ds
.It Ic vips Pq array
.Bl -tag -width Ds
.It Ic address Pq prefix
.It Ic dev
.El
.It Ic name
.El
.Bl -tag -width Ds
.It Ev VRRPD_INSTANCE
.El
.Sh SEE ALSO
.Bl -tag -width Ds
.It Ic notakey
.El
`
	var got []string
	for k := range manualKeys(page) {
		got = append(got, k)
	}
	slices.Sort(got)
	want := []string{"global.router_id", "global.socket", "instance.name", "instance.vips", "instance.vips.address", "instance.vips.dev"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
}
