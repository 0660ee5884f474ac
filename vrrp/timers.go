package vrrp

import (
	"container/heap"
	"time"
)

// timers orders the instances by their machines' deadlines (a min-heap), so that one timer
// serves them all, and finding the next deadline, or the instances due, looks at a few of them
// instead of every one.
type timers []*instance

func (t timers) Len() int           { return len(t) }
func (t timers) Less(i, j int) bool { return earlier(t[i].m.Deadline(), t[j].m.Deadline()) }
func (t timers) Swap(i, j int) {
	t[i], t[j] = t[j], t[i]
	t[i].timer, t[j].timer = i, j
}

func (t *timers) Push(x any) {
	in := x.(*instance)
	in.timer = len(*t)
	*t = append(*t, in)
}

func (t *timers) Pop() any {
	old := *t
	in := old[len(old)-1]
	old[len(old)-1] = nil
	*t = old[:len(old)-1]
	in.timer = -1
	return in
}

// earlier orders deadlines, with the zero deadline (none) last.
func earlier(a, b time.Time) bool {
	switch {
	case a.IsZero():
		return false
	case b.IsZero():
		return true
	}
	return a.Before(b)
}

// next is the earliest deadline, or zero if no instance has one.
func (t timers) next() time.Time {
	if len(t) == 0 {
		return time.Time{}
	}
	return t[0].m.Deadline()
}

// fix restores the heap after in's deadline changed.
func (t *timers) fix(in *instance) {
	if in.timer >= 0 {
		heap.Fix(t, in.timer)
	}
}

// anyDue reports whether f holds for an instance whose deadline has passed. The due ones form
// a subtree at the root: a child is never due before its parent.
func (t timers) anyDue(now time.Time, f func(*instance) bool) bool {
	var visit func(i int) bool
	visit = func(i int) bool {
		if i >= len(t) {
			return false
		}
		if dl := t[i].m.Deadline(); dl.IsZero() || now.Before(dl) {
			return false
		}
		return f(t[i]) || visit(2*i+1) || visit(2*i+2)
	}
	return visit(0)
}
