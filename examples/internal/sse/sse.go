// Package sse serves the example pages' live streams as server-sent events:
// what a page has not seen yet (after its Last-Event-ID, or ?after= on the
// first connection), then each new event as it comes, with a keep-alive comment
// in between so that proxies keep the connection open.
package sse

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Event is one event of a stream.
type Event struct {
	Seq  int64 // its place in the stream, sent as the event's id; it only grows
	Data any   // sent as JSON
}

// Source returns the events after seq, oldest first, and a channel that is
// closed when more may have come.
type Source func(after int64) (events []Event, changed <-chan struct{})

// Serve streams next's events until the client goes away. A comment is sent
// every keepAlive. With maxBytes > 0, a batch larger than that (a page opening
// on a long history) is cut to its newest events within maxBytes; the newest
// is always sent.
func Serve(w http.ResponseWriter, r *http.Request, keepAlive time.Duration, maxBytes int, next Source) {
	after, _ := strconv.ParseInt(cmp.Or(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after")), 10, 64)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte("retry: 2000\n\n")); err != nil {
		return
	}
	ticker := time.NewTicker(keepAlive)
	defer ticker.Stop()
	for {
		events, changed := next(after)
		for _, frame := range frames(events, maxBytes) {
			if _, err := w.Write(frame); err != nil {
				return
			}
		}
		if len(events) > 0 {
			after = events[len(events)-1].Seq
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-ticker.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
		}
	}
}

// frames renders events as server-sent events, the newest ones within maxBytes
// when maxBytes > 0.
func frames(events []Event, maxBytes int) [][]byte {
	var out [][]byte
	size := 0
	for i := len(events) - 1; i >= 0; i-- {
		data, _ := json.Marshal(events[i].Data)
		frame := []byte("id: " + strconv.FormatInt(events[i].Seq, 10) + "\ndata: " + string(data) + "\n\n")
		if size += len(frame); maxBytes > 0 && size > maxBytes && len(out) > 0 {
			break
		}
		out = append(out, frame)
	}
	slices.Reverse(out)
	return out
}
