package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// watchConfig tells of every way the file's content changes, once per change, and of nothing
// else: written in place, renamed over, deleted and created again, a ConfigMap's ..data swap;
// not a touch that leaves the content, nor another file in the directory.
func TestWatchConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vrrpd.toml")
	os.WriteFile(path, []byte("one"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := watchConfig(ctx, path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	expect := func(what string, want bool) {
		t.Helper()
		select {
		case <-w.changed:
			if !want {
				t.Errorf("%s: told of a change", what)
			}
		case <-time.After(watchSettle + time.Second):
			if want {
				t.Errorf("%s: not told", what)
			}
		}
	}
	os.WriteFile(path, []byte("two"), 0o644)
	expect("written in place", true)
	os.WriteFile(path+".new", []byte("three"), 0o644)
	os.Rename(path+".new", path)
	expect("renamed over", true)
	os.Chtimes(path, time.Now(), time.Now())
	os.WriteFile(filepath.Join(dir, "other"), []byte("x"), 0o644)
	expect("touched, and another file written", false)
	os.Remove(path)
	os.WriteFile(path, []byte("four"), 0o644)
	expect("deleted and created again", true)

	// A ConfigMap volume: vrrpd.toml -> ..data/vrrpd.toml, ..data -> a timestamped directory,
	// updated by renaming a new ..data symlink over the old one.
	cm := t.TempDir()
	for _, v := range []string{"..2026_12_04_1", "..2026_12_04_2"} {
		os.Mkdir(filepath.Join(cm, v), 0o755)
		os.WriteFile(filepath.Join(cm, v, "vrrpd.toml"), []byte(v), 0o644)
	}
	os.Symlink("..2026_12_04_1", filepath.Join(cm, "..data"))
	os.Symlink("..data/vrrpd.toml", filepath.Join(cm, "vrrpd.toml"))
	wk, err := watchConfig(ctx, filepath.Join(cm, "vrrpd.toml"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	w = wk
	os.Symlink("..2026_12_04_2", filepath.Join(cm, "..data_tmp"))
	os.Rename(filepath.Join(cm, "..data_tmp"), filepath.Join(cm, "..data"))
	expect("a ConfigMap update", true)
}
