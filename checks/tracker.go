package checks

import (
	"fmt"
	"strings"
)

// Tracker kinds.
const (
	KindCheck     = "check"     // a [[check]] an instance tracks
	KindInterface = "interface" // a link an instance tracks, its own interface included
)

// Tracker is the current state of one thing an instance tracks.
type Tracker struct {
	Kind   string // KindCheck or KindInterface; any other kind follows the rules of KindCheck
	Name   string // the check's or the interface's name
	Weight int    // the priority change; 0 means FAULT while down
	Up     bool   // the check is up, or the link is up
}

// Effective is the priority an instance runs with: base plus the weights of the trackers that apply,
// clamped to 1-254. An address owner (base 255) keeps 255 whatever the weights say. fault is true
// while any weight-0 tracker is down, for an owner too.
//
// A check's negative weight applies while it is down, and a positive one while it is up. An
// interface's weight applies while it is down, whatever its sign. A weight of 0 means FAULT while
// down, for both kinds.
//
// why names each tracker that applies, in order, faults first, e.g. "interface eth1 down" for a
// fault or "check nginx down (weight -20): priority 100 -> 80" for a weight; it is "" when none
// applies.
func Effective(base uint8, ts []Tracker) (prio uint8, fault bool, why string) {
	var faults, weights []string
	sum := int(base)
	for _, t := range ts {
		switch {
		case t.Kind != KindInterface && t.Up && t.Weight > 0:
			weights = append(weights, fmt.Sprintf("%s %s up (weight %+d)", t.Kind, t.Name, t.Weight))
			sum += t.Weight
		case t.Up:
		case t.Weight == 0:
			faults = append(faults, fmt.Sprintf("%s %s down", t.Kind, t.Name))
		case t.Kind == KindInterface || t.Weight < 0:
			weights = append(weights, fmt.Sprintf("%s %s down (weight %+d)", t.Kind, t.Name, t.Weight))
			sum += t.Weight
		}
	}

	var change string
	switch {
	case base == 255:
		prio = 255
		change = "priority 255 unchanged (address owner)"
	case sum < 1:
		prio = 1
		change = fmt.Sprintf("priority %d -> 1 (clamped from %d)", base, sum)
	case sum > 254:
		prio = 254
		change = fmt.Sprintf("priority %d -> 254 (clamped from %d)", base, sum)
	default:
		prio = uint8(sum)
		change = fmt.Sprintf("priority %d -> %d", base, sum)
	}

	var parts []string
	if len(faults) > 0 {
		parts = append(parts, strings.Join(faults, ", "))
	}
	if len(weights) > 0 {
		parts = append(parts, strings.Join(weights, ", ")+": "+change)
	}
	return prio, len(faults) > 0, strings.Join(parts, "; ")
}
