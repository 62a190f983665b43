package deskietest

import (
	"context"
	"slices"
	"time"
)

// redelivery is a failed delivery waiting to be sent again.
type redelivery struct {
	job   *delivery
	due   time.Time
	timer *time.Timer // on real time only
}

// PendingRedelivery is a failed webhook delivery waiting to be sent again.
type PendingRedelivery struct {
	MessageID int64
	CaseID    int64
	URL       string
	Due       time.Time // by the server's clock
}

// SetRedelivery sets the redelivery schedule, as [WithRedelivery] does: after a
// failed delivery (a transport error or a non-2xx answer) the same payload is
// POSTed again after schedule[0]; if that fails too, after schedule[1]; and so on
// until the schedule runs out. Every attempt is in [Server.Deliveries]. With no
// schedule, redelivery is off (the default) and the redeliveries waiting are
// dropped; otherwise those waiting keep their time and their later steps follow
// the new schedule.
//
// On real time the server sends them on time by itself; with [WithClock], time is
// the test's: move the clock, then call [Server.FlushRedeliveries].
func (s *Server) SetRedelivery(schedule ...time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redelivery = cleanSchedule(schedule)
	if len(s.redelivery) == 0 {
		s.dropPending()
	}
	s.changed()
}

// Redelivery returns the redelivery schedule (empty when redelivery is off).
func (s *Server) Redelivery() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.redelivery)
}

// PendingRedeliveries returns the failed deliveries waiting to be sent again,
// soonest first.
func (s *Server) PendingRedeliveries() []PendingRedelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PendingRedelivery, 0, len(s.pending))
	for _, r := range s.pending {
		out = append(out, PendingRedelivery{MessageID: r.job.msg, CaseID: r.job.kase, URL: r.job.url, Due: r.due})
	}
	slices.SortStableFunc(out, func(a, b PendingRedelivery) int { return a.Due.Compare(b.Due) })
	return out
}

// FlushRedeliveries sends the redeliveries due by the server's clock, soonest
// first, then waits for every other delivery being sent, and returns how many it
// sent. With [WithClock] this is how redeliveries run:
//
//	clock.Advance(time.Minute)
//	srv.FlushRedeliveries() // every redelivery due by now has been POSTed and recorded
//
// A redelivery that fails again is scheduled for its next step from the clock's
// current time and is left for a later flush, even when due at once. Do not call
// it from a webhook receiver the server is delivering to: it would wait for
// itself.
func (s *Server) FlushRedeliveries() int {
	s.mu.Lock()
	now := s.cfg.clock()
	var due []*redelivery
	s.pending = slices.DeleteFunc(s.pending, func(r *redelivery) bool {
		if r.due.After(now) {
			return false
		}
		if r.timer != nil {
			r.timer.Stop()
		}
		due = append(due, r)
		return true
	})
	s.inflight += len(due)
	s.mu.Unlock()
	slices.SortStableFunc(due, func(a, b *redelivery) int { return a.due.Compare(b.due) })
	for _, r := range due {
		_, _ = s.deliver(r.job)
		s.mu.Lock()
		s.inflight--
		s.changed()
		s.mu.Unlock()
	}
	_ = s.waitUntil(context.Background(), func() bool { return s.inflight == 0 })
	return len(due)
}

// scheduleRedelivery queues the next attempt of a failed delivery, if the
// schedule has one; callers hold s.mu.
func (s *Server) scheduleRedelivery(job *delivery) {
	if s.closed || job.step < 0 || job.step >= len(s.redelivery) {
		return
	}
	wait := s.redelivery[job.step]
	next := *job
	next.step++
	r := &redelivery{job: &next, due: s.cfg.clock().Add(wait)}
	if !s.cfg.clockSet {
		r.timer = time.AfterFunc(wait, func() { s.fire(r) })
	}
	s.pending = append(s.pending, r)
}

// fire sends a redelivery whose timer ran, unless a flush, a reset or Close took
// it first.
func (s *Server) fire(r *redelivery) {
	s.mu.Lock()
	i := slices.Index(s.pending, r)
	if i < 0 {
		s.mu.Unlock()
		return
	}
	s.pending = slices.Delete(s.pending, i, i+1)
	s.inflight++
	s.mu.Unlock()
	_, _ = s.deliver(r.job)
	s.mu.Lock()
	s.inflight--
	s.changed()
	s.mu.Unlock()
}

// dropPending drops every waiting redelivery; callers hold s.mu.
func (s *Server) dropPending() {
	for _, r := range s.pending {
		if r.timer != nil {
			r.timer.Stop()
		}
	}
	s.pending = nil
	s.changed()
}
