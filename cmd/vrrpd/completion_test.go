package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fakeDaemon answers status on a control socket in a temporary directory with these instances,
// until the test ends. It returns the socket's path.
func fakeDaemon(t *testing.T, names ...string) string {
	t.Helper()
	doc := &statusDoc{RouterID: "lb1", Version: "v1", PID: 42}
	for i, n := range names {
		doc.Instances = append(doc.Instances, instanceDoc{Name: n, Interface: "eth0", VRID: 51 + i, State: "BACKUP", Priority: 100, EffectivePriority: 100})
	}
	sock, _ := serveTestControl(t, nil, func(req request) response { return response{Status: doc} })
	return sock
}

// `vrrpd status NAME...` shows only those instances, in the daemon's order, and a name the
// daemon does not have is an error, with nothing on stdout.
func TestStatusInstances(t *testing.T) {
	sock := fakeDaemon(t, "VI_1", "VI_2", "VI_3")
	code, stdout, stderr := vrrpdCLI("status", "--socket", sock, "VI_3", "VI_1")
	var rows []string
	for line := range strings.Lines(stdout) {
		rows = append(rows, strings.Fields(line)[0])
	}
	if code != 0 || stderr != "" || !slices.Equal(rows, []string{"router", "INSTANCE", "VI_1", "VI_3"}) {
		t.Errorf("status VI_3 VI_1: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}

	code, stdout, _ = vrrpdCLI("status", "VI_2", "--json", "--socket", sock)
	var doc statusDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != 0 || len(doc.Instances) != 1 || doc.Instances[0].Name != "VI_2" || doc.RouterID != "lb1" {
		t.Errorf("status VI_2 --json: exit %d, %v, stdout:\n%s", code, err, stdout)
	}

	code, stdout, stderr = vrrpdCLI("status", "--socket", sock, "VI_2", "web", "VI_9", "web")
	want := `vrrpd status: the daemon has no instance "web", "VI_9" (it has VI_1, VI_2, VI_3)` + "\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("status with unknown names: exit %d, stdout %q, stderr %q; want 1, nothing, %q", code, stdout, stderr, want)
	}
}

// `vrrpd __complete instances` prints the daemon's instance names, one a line, and nothing at
// all, exiting 0, when no daemon answers.
func TestCompleteInstances(t *testing.T) {
	sock := fakeDaemon(t, "VI_1", "web")
	if code, stdout, stderr := vrrpdCLI("__complete", "instances", "--socket", sock); code != 0 || stdout != "VI_1\nweb\n" || stderr != "" {
		t.Errorf("with a daemon: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	none := filepath.Join(t.TempDir(), "none.sock")
	if code, stdout, stderr := vrrpdCLI("__complete", "instances", "--socket", none); code != 0 || stdout != "" || stderr != "" {
		t.Errorf("without a daemon: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// vrrpdOnPath puts this test binary on PATH as "vrrpd", acting as vrrpd (see TestMain), so that
// the completion scripts can call it back for instance names. It returns the directory.
func vrrpdOnPath(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(self, filepath.Join(dir, "vrrpd")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("VRRPD_TEST_MAIN", "1")
	return dir
}

// The bash script completes what the parser accepts, files where a command takes them, and the
// running daemon's instance names: `vrrpd drain VI_<tab>`.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	sock := fakeDaemon(t, "VI_1", "VI_2", "web")
	dir := vrrpdOnPath(t)
	os.WriteFile(filepath.Join(dir, "lb1.toml"), nil, 0o644)
	script := filepath.Join(t.TempDir(), "vrrpd.bash")
	if err := os.WriteFile(script, []byte(bashCompletion()), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line string // what was typed before <tab>; the last word is the one completed
		want []string
	}{
		{"vrrpd ", strings.Fields(commandNames())},
		{"vrrpd st", []string{"status"}},
		{"vrrpd check --", []string{"--config", "--offline", "--help"}},
		{"vrrpd drain --socket " + sock + " --f", []string{"--force"}},
		{"vrrpd drain --socket " + sock + " VI_", []string{"VI_1", "VI_2"}},
		{"vrrpd status --json --socket " + sock + " ", []string{"VI_1", "VI_2", "web"}},
		{"vrrpd undrain --socket " + sock + " w", []string{"web"}},
		{"vrrpd drain --socket " + filepath.Join(dir, "none.sock") + " VI_", nil},
		{"vrrpd run --config " + dir + "/lb", []string{dir + "/lb1.toml"}},
		{"vrrpd check " + dir + "/lb", []string{dir + "/lb1.toml"}},
		{"vrrpd drain --timeout ", nil},
		{"vrrpd completion ", []string{"bash", "zsh", "fish"}},
		{"vrrpd help ch", []string{"check"}},
		{"vrrpd version ", nil},
		{"vrrpd __complete ", nil},
	}
	for _, tt := range tests {
		words := strings.Split(tt.line, " ")
		prog := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vrrpd; printf '%s\n' "${COMPREPLY[@]}"`
		out, err := exec.Command(bash, append([]string{"--norc", "-c", prog, "bash", script}, words...)...).CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v\n%s", tt.line, err, out)
			continue
		}
		got := strings.Fields(string(out))
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%q completes (-want +got):\n%s", tt.line, diff)
		}
	}
}

// fish runs its script for real: `complete -C` says what a command line completes to.
func TestFishCompletion(t *testing.T) {
	fish, err := exec.LookPath("fish")
	if err != nil {
		t.Skip("fish is not installed: its completion is not checked (not an end-to-end test, so VRRPD_REQUIRE_E2E does not apply)")
	}
	sock := fakeDaemon(t, "VI_1", "VI_2", "web")
	vrrpdOnPath(t)
	script := filepath.Join(t.TempDir(), "vrrpd.fish")
	if err := os.WriteFile(script, []byte(fishCompletion()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(fish, "--no-execute", script).CombinedOutput(); err != nil {
		t.Fatalf("fish --no-execute: %v\n%s", err, out)
	}
	tests := []struct {
		line string
		want []string
	}{
		{"vrrpd st", []string{"status"}},
		{"vrrpd check --o", []string{"--offline"}},
		{"vrrpd drain --socket " + sock + " VI_", []string{"VI_1", "VI_2"}},
		{"vrrpd status --json --socket " + sock + " w", []string{"web"}},
		{"vrrpd completion ", []string{"bash", "fish", "zsh"}},
	}
	for _, tt := range tests {
		out, err := exec.Command(fish, "--no-config", "-c", `source $argv[1]; complete -C $argv[2]`, script, tt.line).CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v\n%s", tt.line, err, out)
			continue
		}
		var got []string
		for line := range strings.Lines(string(out)) {
			got = append(got, strings.Fields(line)[0]) // a candidate, then its description
		}
		slices.Sort(got)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%q completes (-want +got):\n%s", tt.line, diff)
		}
	}
}

// zsh's script parses, and registers _vrrpd for vrrpd when sourced after compinit.
func TestZshCompletion(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("zsh is not installed: its completion is not checked (not an end-to-end test, so VRRPD_REQUIRE_E2E does not apply)")
	}
	script := filepath.Join(t.TempDir(), "_vrrpd")
	if err := os.WriteFile(script, []byte(zshCompletion()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(zsh, "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
	prog := `autoload -U compinit && compinit -u -d "$2" && source "$1" && print -r -- $_comps[vrrpd]`
	out, err := exec.Command(zsh, "-f", "-c", prog, "zsh", script, filepath.Join(t.TempDir(), "zcompdump")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "_vrrpd" {
		t.Errorf("sourcing the script: %v, vrrpd's completion function is %q, want _vrrpd", err, out)
	}
}
