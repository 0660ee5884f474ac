package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeResponse writes what json.Encoder writes, byte for byte, though it encodes a status's
// instances one at a time; strings that look like the key it looks for do not mislead it.
func TestWriteResponse(t *testing.T) {
	tricky := `"instances":[],<b>&"`
	doc := func(n int) *statusDoc {
		d := &statusDoc{RouterID: tricky, Version: "v1", PID: 7, Started: "2026-11-22T10:00:00Z", Instances: []instanceDoc{}, Sockets: []socketDoc{{Interface: "eth0"}}}
		for i := range n {
			d.Instances = append(d.Instances, instanceDoc{Name: tricky, Interface: "eth0", VRID: i + 1, VIPs: []string{"10.0.4.99/24"}, Reason: "line\nbreak"})
		}
		return d
	}
	for _, resp := range []response{
		{Error: "unknown command \"x\""},
		{Status: doc(0)},
		{Status: doc(1)},
		{Status: doc(3)},
	} {
		var want, got bytes.Buffer
		if err := json.NewEncoder(&want).Encode(resp); err != nil {
			t.Fatal(err)
		}
		if err := writeResponse(&got, resp); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want.String(), got.String()); diff != "" {
			t.Errorf("writeResponse differs from json.Encoder (-want +got):\n%s", diff)
		}
	}
}
