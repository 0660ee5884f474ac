package main

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vrrpd/vrrpd/configs"
)

// checkOptions is what `vrrpd check` was given.
type checkOptions struct {
	files   []string // the files to check, at least one
	offline bool     // check each file alone, without this host
}

// cmdCheck is `vrrpd check`: it validates each file as `run` does and prints every problem; with
// two or more files it also checks them as the hosts of one LAN (configs.CheckPair). Warnings go
// to stderr and change nothing; a problem anywhere exits 1.
func cmdCheck(o checkOptions, stdout, stderr io.Writer) int {
	code := 0
	var valid []configs.NamedConfig
	var files []string
	for _, path := range o.files {
		if slices.Contains(files, filepath.Clean(path)) {
			continue // the same file twice would be its own peer
		}
		files = append(files, filepath.Clean(path))
		cfg, warnings, err := checkFile(path, o.offline)
		for _, w := range warnings {
			fmt.Fprintln(stderr, "warning:", w)
		}
		if err != nil {
			printProblems(stderr, path, err)
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "%s is valid: %d instance(s), %d check(s), %d sync group(s)\n",
			path, len(cfg.Instances), len(cfg.Checks), len(cfg.SyncGroups))
		valid = append(valid, configs.NamedConfig{File: path, Config: cfg})
	}
	if len(files) < 2 {
		return code
	}
	if code != 0 {
		fmt.Fprintln(stderr, "vrrpd check: the files are not checked as one LAN until each is valid")
		return code
	}
	names := make([]string, len(valid))
	for i, v := range valid {
		names[i] = v.File
	}
	warnings, err := configs.CheckPair(valid)
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if err != nil {
		problems := configs.Problems(err)
		fmt.Fprintf(stderr, "%s as one LAN: %d problem(s):\n", strings.Join(names, ", "), len(problems))
		for _, p := range problems {
			fmt.Fprintf(stderr, "  %s\n", p)
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s work together as the hosts of one LAN\n", strings.Join(names, ", "))
	return 0
}

// checkFile loads and validates one file. Offline, that is the file alone; otherwise also what
// it needs of this host, as run does, and what on this host would break its failover.
func checkFile(path string, offline bool) (*configs.Config, []string, error) {
	if offline {
		cfg, err := configs.Load(path)
		return cfg, nil, err
	}
	cfg, warnings, err := loadConfig(path)
	if err != nil {
		return nil, warnings, err
	}
	for _, w := range configs.HostWarnings(cfg, configs.ThisHost()) {
		warnings = append(warnings, path+": "+w)
	}
	return cfg, warnings, nil
}
