package main

import (
	"testing"

	"github.com/vrrpd/vrrpd/notify"
	"github.com/vrrpd/vrrpd/vrrp"
)

// A sync group's hooks see its combined state, as keepalived's vrrp_sync_group notify does:
// FAULT when any member is, MASTER when every member is, STOP when all have stopped, BACKUP
// otherwise.
func TestGroupCombined(t *testing.T) {
	I, B, M, F := vrrp.Initialize, vrrp.Backup, vrrp.Master, vrrp.Fault
	tests := []struct {
		members []vrrp.State
		want    string
	}{
		{[]vrrp.State{M, M}, notify.StateMaster},
		{[]vrrp.State{M, B}, notify.StateBackup},
		{[]vrrp.State{B, B}, notify.StateBackup},
		{[]vrrp.State{M, F}, notify.StateFault},
		{[]vrrp.State{I, F}, notify.StateFault},
		{[]vrrp.State{I, I}, notify.StateStop},
		{[]vrrp.State{I, M}, notify.StateBackup}, // one member still starting
	}
	for _, tt := range tests {
		g := &group{members: map[string]vrrp.State{}}
		for i, s := range tt.members {
			g.members[string(rune('a'+i))] = s
		}
		if got := g.combined(); got != tt.want {
			t.Errorf("members %v: combined %s, want %s", tt.members, got, tt.want)
		}
	}
}
