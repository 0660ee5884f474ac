package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// errProc means a /proc file did not read as expected.
var errProc = errors.New("unexpected /proc contents")

// clockTick is USER_HZ, the unit of /proc/PID/stat's times; 100 on every Linux ABI.
const clockTick = 10 * time.Millisecond

// stat is what the harness reads from /proc/PID/stat.
type stat struct {
	state string
	ppid  int
	utime uint64 // clock ticks, the whole thread group
	stime uint64
	start uint64 // start time, clock ticks after boot
}

func readStat(pid int) (stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, err
	}
	return parseStat(string(b))
}

// parseStat parses /proc/PID/stat (proc(5)). The command name, field 2, is in parentheses and
// may itself hold spaces and parentheses, so the fields are counted after the last ')'.
func parseStat(s string) (stat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("stat: %w: %q", errProc, s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3, state
	if len(f) < 20 {
		return stat{}, fmt.Errorf("stat: %w: %d fields", errProc, len(f)+2)
	}
	field := func(n int) uint64 { // n counts from 1, as proc(5) does
		v, err := strconv.ParseUint(f[n-3], 10, 64)
		if err != nil {
			return 0
		}
		return v
	}
	return stat{state: f[0], ppid: int(field(4)), utime: field(14), stime: field(15), start: field(22)}, nil
}

// cpuTime is the CPU time the processes have used so far, user and system. It sums each live
// thread's sum_exec_runtime from /proc/PID/task/TID/schedstat, which counts nanoseconds, and
// falls back on /proc/PID/stat's utime + stime, which counts 10ms ticks, where the former is
// missing or less (a thread that has exited no longer shows in task/).
func cpuTime(ids []procID) (time.Duration, error) {
	var total time.Duration
	for _, id := range ids {
		st, err := readStat(id.pid)
		if err != nil {
			return 0, err
		}
		ticks := time.Duration(st.utime+st.stime) * clockTick
		ns, err := schedTime(id.pid)
		if err != nil || ns < ticks-clockTick {
			ns = ticks
		}
		total += ns
	}
	return total, nil
}

func schedTime(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("schedstat of %d: %w", pid, errProc)
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread has just exited
		}
		f := strings.Fields(string(b))
		if len(f) < 1 {
			return 0, fmt.Errorf("%s: %w", t, errProc)
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", t, errProc)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// peakRSS sums the processes' VmHWM, the peak resident set size, in bytes. Pages shared between
// them (keepalived's parent and child share their binary and libraries) count in each.
func peakRSS(ids []procID) (uint64, error) {
	var total uint64
	for _, id := range ids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", id.pid))
		if err != nil {
			return 0, err
		}
		kb, err := statusField(string(b), "VmHWM")
		if err != nil {
			return 0, fmt.Errorf("pid %d: %w", id.pid, err)
		}
		total += kb * 1024
	}
	return total, nil
}

// statusField returns a "Name:  1234 kB" field of /proc/PID/status, in kB.
func statusField(status, name string) (uint64, error) {
	for line := range strings.SplitSeq(status, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != name {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			break
		}
		return strconv.ParseUint(f[0], 10, 64)
	}
	return 0, fmt.Errorf("status: %w: no %s", errProc, name)
}
