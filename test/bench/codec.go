package main

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// codecBench is one group of vrrp's codec benchmarks (BenchmarkMarshal, ...), over its
// sub-benchmarks.
type codecBench struct {
	name          string  // Marshal, Unmarshal, Check
	maxAllocs     float64 // allocs/op, the worst sub-benchmark
	minNs, maxNs  float64 // ns/op range
	subBenchmarks int
}

// codec runs the codec's benchmarks in ./vrrp (encode, decode, receive check) with -benchmem, and
// sums them up per benchmark.
func (b *bench) codec(ctx context.Context) ([]codecBench, error) {
	b.say("codec benchmarks: go test -run '^$' -bench '^Benchmark(Marshal|Unmarshal|Check)$' -benchmem -benchtime 200ms ./vrrp")
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^Benchmark(Marshal|Unmarshal|Check)$", "-benchmem", "-benchtime", "200ms", "./vrrp")
	cmd.Dir = b.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -bench ./vrrp: %w\n%s", err, out)
	}
	return parseBench(string(out)), nil
}

// parseBench reads `go test -bench -benchmem` output lines such as
//
//	BenchmarkUnmarshal/v3v4-2   174905097   7.008 ns/op   0 B/op   0 allocs/op
func parseBench(out string) []codecBench {
	var list []codecBench
	index := map[string]int{}
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		name, _, _ = strings.Cut(name, "/")
		if i := strings.LastIndexByte(name, '-'); i > 0 && !strings.Contains(f[0], "/") {
			name = name[:i] // the GOMAXPROCS suffix of a benchmark without sub-benchmarks
		}
		var ns, allocs float64 = -1, -1
		for i := 2; i+1 < len(f); i++ {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				ns = v
			case "allocs/op":
				allocs = v
			}
		}
		if ns < 0 || allocs < 0 {
			continue
		}
		i, ok := index[name]
		if !ok {
			i = len(list)
			index[name] = i
			list = append(list, codecBench{name: name, minNs: ns, maxNs: ns})
		}
		c := &list[i]
		c.maxAllocs = max(c.maxAllocs, allocs)
		c.minNs, c.maxNs = min(c.minNs, ns), max(c.maxNs, ns)
		c.subBenchmarks++
	}
	return list
}
