package main

import (
	"bufio"
	"bytes"
	"os"
	"regexp"
	"slices"
	"testing"
)

// Every vrrpd metric configs/prometheus/alerts.yml names is one the daemon exports, so that a
// renamed metric cannot leave an alert that never fires. (promtool tests the rules themselves.)
func TestAlertRulesUseExportedMetrics(t *testing.T) {
	rules, err := os.ReadFile("../../configs/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	e := exposition{bufio.NewWriter(&buf)}
	e.vrrp(nil, nil, nil) // every family's HELP and TYPE, with no series
	e.Flush()
	var exported []string
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllSubmatch(buf.Bytes(), -1) {
		exported = append(exported, string(m[1]))
	}
	used := regexp.MustCompile(`\bvrrpd_[a-z_]+`).FindAll(rules, -1)
	if len(used) == 0 {
		t.Fatal("alerts.yml names no vrrpd metric")
	}
	for _, name := range used {
		if !slices.Contains(exported, string(name)) {
			t.Errorf("alerts.yml uses %s, which vrrpd does not export (it exports %v)", name, exported)
		}
	}
}
