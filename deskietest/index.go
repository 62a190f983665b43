package deskietest

import (
	"cmp"
	"slices"
	"sort"
	"time"
)

// caseIndex keeps cases sorted by one of their dates, then by id, so lists page
// through it and cut time windows by binary search instead of sorting.
type caseIndex struct {
	key  func(*Case) time.Time
	list []*Case
}

type indexKey struct {
	at time.Time
	id int64
}

func (x *caseIndex) compare(c *Case, k indexKey) int {
	return cmp.Or(x.key(c).Compare(k.at), cmp.Compare(c.ID, k.id))
}

func (x *caseIndex) insert(c *Case) {
	i, _ := slices.BinarySearchFunc(x.list, indexKey{x.key(c), c.ID}, x.compare)
	x.list = slices.Insert(x.list, i, c)
}

// remove drops c; its key must not have changed since it was inserted.
func (x *caseIndex) remove(c *Case) {
	if i, ok := slices.BinarySearchFunc(x.list, indexKey{x.key(c), c.ID}, x.compare); ok && x.list[i] == c {
		x.list = slices.Delete(x.list, i, i+1)
		return
	}
	x.list = slices.DeleteFunc(x.list, func(o *Case) bool { return o == c }) // not reached while keys move through touch
}

// window returns the positions [lo, hi) of the cases whose key lies in w.
func (x *caseIndex) window(w timeWindow) (lo, hi int) {
	lo, hi = 0, len(x.list)
	if !w.from.IsZero() {
		lo = sort.Search(len(x.list), func(i int) bool { return !x.key(x.list[i]).Before(w.from) })
	}
	if !w.to.IsZero() {
		hi = sort.Search(len(x.list), func(i int) bool { return x.key(x.list[i]).After(w.to) })
	}
	return lo, max(lo, hi)
}

// timeWindow is an inclusive range of dates; a zero end is open.
type timeWindow struct{ from, to time.Time }

func (w timeWindow) contains(t time.Time) bool {
	return (w.from.IsZero() || !t.Before(w.from)) && (w.to.IsZero() || !t.After(w.to))
}

// addCase stores a new case in the map and the indexes; callers hold s.mu.
func (s *Server) addCase(c *Case) {
	s.cases[c.ID] = c
	s.byCreated.insert(c)
	s.byUpdated.insert(c)
	s.changed()
}

// removeCase drops a case from the map and the indexes; callers hold s.mu.
func (s *Server) removeCase(c *Case) {
	delete(s.cases, c.ID)
	s.byCreated.remove(c)
	s.byUpdated.remove(c)
	s.changed()
}

// touch sets a case's updated_at, keeping the index in order; every change of a
// case goes through it. Callers hold s.mu.
func (s *Server) touch(c *Case, at time.Time) {
	if s.cases[c.ID] == c {
		s.byUpdated.remove(c)
		c.UpdatedAt = at
		s.byUpdated.insert(c)
	} else {
		c.UpdatedAt = at
	}
	s.changed()
}

// caseQuery is a parsed case list request.
type caseQuery struct {
	sort             string // created_at_desc, created_at_asc, updated_at_desc or updated_at_asc
	created, updated timeWindow
	match            func(*Case) bool // nil matches every case
}

// scanCases walks the cases in q's order, through the index of its sort, cut to
// that index's time window, and returns the page [skip, skip+limit) of the
// matching ones and how many match; callers hold s.mu.
func (s *Server) scanCases(q caseQuery, skip, limit int) (page []*Case, total int) {
	idx, window, other, otherKey := &s.byCreated, q.created, q.updated, s.byUpdated.key
	if q.sort == "updated_at_desc" || q.sort == "updated_at_asc" {
		idx, window, other, otherKey = &s.byUpdated, q.updated, q.created, s.byCreated.key
	}
	lo, hi := idx.window(window)
	desc := q.sort == "" || q.sort == "created_at_desc" || q.sort == "updated_at_desc"
	for i := range hi - lo {
		c := idx.list[lo+i]
		if desc {
			c = idx.list[hi-1-i]
		}
		if !other.contains(otherKey(c)) || q.match != nil && !q.match(c) {
			continue
		}
		if total >= skip && len(page) < limit {
			page = append(page, c)
		}
		total++
	}
	return page, total
}
