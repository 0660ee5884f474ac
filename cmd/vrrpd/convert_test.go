package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vrrpd/vrrpd/configs"
)

// TestConvertCommand runs `vrrpd convert` end to end: the exit code, the exact stderr lines, and
// the TOML on stdout, which must load with configs.Parse when the conversion succeeds.
func TestConvertCommand(t *testing.T) {
	const conf = `global_defs {
    router_id lb1
    smtp_server 10.0.0.9
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        10.0.4.99/24
    }
}
`
	file := writeFile(t, "keepalived.conf", conf)
	smtp := ":3: not carried over: smtp_server 10.0.0.9: vrrpd sends no e-mail: send alerts from a notify hook (any gets INSTANCE <name> <state> <priority>)"
	missing := filepath.Join(t.TempDir(), "none.conf")
	var usage bytes.Buffer
	convert, _ := lookup("convert")
	convert.writeUsage(&usage)
	usageLines := func(msg string) []string {
		return strings.Split(strings.TrimSuffix("vrrpd convert: "+msg+"\n\n"+usage.String(), "\n"), "\n")
	}
	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stderr []string
		stdout string // what stdout starts with; "" for nothing at all
	}{
		{name: "stdin", stdin: conf, code: 0, stderr: []string{"stdin" + smtp},
			stdout: "# vrrpd configuration converted from stdin by `vrrpd convert`.\n"},
		{name: "stdin as -", args: []string{"-"}, stdin: conf, code: 0, stderr: []string{"stdin" + smtp},
			stdout: "# vrrpd configuration converted from stdin by `vrrpd convert`.\n"},
		{name: "file", args: []string{file}, stdin: "ignored", code: 0, stderr: []string{file + smtp},
			stdout: "# vrrpd configuration converted from " + file + " by `vrrpd convert`.\n"},
		{name: "syntax error", stdin: "vrrp_instance VI_1 {\n  interface eth0\n", code: 1,
			stderr: []string{"vrrpd: stdin:1: the block of vrrp_instance VI_1 is never closed: a '}' is missing"}},
		{name: "result does not validate", stdin: "vrrp_instance VI_1 {\n  interface eth0\n}\n", code: 1,
			stderr: []string{
				"vrrpd: the converted configuration has 2 problem(s); it was written anyway, to be fixed by hand:",
				`  instance "VI_1": vrid: required`,
				`  instance "VI_1": vips: required`,
			},
			stdout: "# vrrpd configuration converted from stdin by `vrrpd convert`.\n"},
		{name: "missing file", args: []string{missing}, code: 1,
			stderr: []string{"vrrpd: open " + missing + ": no such file or directory"}},
		{name: "two files", args: []string{file, file}, code: 2, stderr: usageLines(fmt.Sprintf("unexpected argument %q", file))},
		{name: "unknown flag", args: []string{"-x"}, code: 2, stderr: usageLines("flag provided but not defined: --x")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"convert"}, tc.args...), strings.NewReader(tc.stdin), &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			if diff := cmp.Diff(tc.stderr, strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")); diff != "" {
				t.Errorf("stderr mismatch (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(stdout.String(), tc.stdout) || tc.stdout == "" && stdout.Len() > 0 {
				t.Errorf("stdout = %q, want it to start with %q", stdout.String(), tc.stdout)
			}
			if code != 0 {
				return
			}
			cfg, err := configs.Parse(stdout.Bytes())
			if err != nil {
				t.Fatalf("stdout does not load: %v\n%s", err, stdout.String())
			}
			in := cfg.Instances[0]
			got := []any{cfg.Global.RouterID, in.Name, in.Interface, in.VRID, in.Version, in.VIPs[0].String()}
			if diff := cmp.Diff([]any{"lb1", "VI_1", "eth0", uint8(51), 2, "10.0.4.99/24"}, got); diff != "" {
				t.Errorf("converted configuration mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// --router-id sets global.router_id whether keepalived's file has one, has a global_defs
// without one, or has no global_defs at all.
func TestConvertRouterID(t *testing.T) {
	instance := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  10.0.4.99/24\n }\n}\n"
	for name, conf := range map[string]string{
		"replaced":          "global_defs {\n router_id lb1\n}\n" + instance,
		"added to [global]": "global_defs {\n script_user root\n}\n" + instance,
		"a new [global]":    instance,
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run([]string{"convert", "--router-id", `lb"2`}, strings.NewReader(conf), &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d:\n%s", code, stderr.String())
			}
			cfg, err := configs.Parse(stdout.Bytes())
			if err != nil {
				t.Fatalf("%v\n%s", err, stdout.String())
			}
			if cfg.Global.RouterID != `lb"2` || strings.Count(stdout.String(), "router_id = ") != 1 ||
				!strings.Contains(stdout.String(), "\n\n[global]\n") {
				t.Errorf("router_id %q, written %d times:\n%s", cfg.Global.RouterID, strings.Count(stdout.String(), "router_id = "), stdout.String())
			}
		})
	}
}
