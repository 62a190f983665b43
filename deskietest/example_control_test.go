package deskietest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/deskie-go/deskie/deskietest"
)

// With a Clock, time is the test's: the redelivery schedule runs when the clock
// is moved and the due redeliveries are flushed, with no sleep.
func ExampleServer_FlushRedeliveries() {
	var down atomic.Bool
	down.Store(true)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer hook.Close()
	clock := deskietest.NewClock(time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC))
	srv := deskietest.NewServer(deskietest.WithClock(clock.Now), deskietest.WithRedelivery(time.Minute, 10*time.Minute))
	defer srv.Close()
	srv.AddChannel("App", deskietest.ChannelAsync, hook.URL)
	ids, _ := srv.SeedCases("cch1", "app-user-42", 1)

	_, err := srv.AgentReply(ids[0], 7, "Hello!") // the endpoint is down
	fmt.Println(err != nil, len(srv.PendingRedeliveries()))

	clock.Advance(time.Minute)
	srv.FlushRedeliveries() // fails again: the next try is 10 minutes later
	down.Store(false)
	clock.Advance(10 * time.Minute)
	srv.FlushRedeliveries()
	for _, d := range srv.Deliveries() {
		fmt.Println(d.Attempt, d.Status, d.At.Format("15:04"))
	}
	// Output:
	// true 1
	// 1 503 12:00
	// 2 503 12:01
	// 3 200 12:11
}

// AddUser seeds a customer known to the helpdesk before the test starts.
func ExampleServer_AddUser() {
	srv := deskietest.NewServer()
	defer srv.Close()
	srv.AddChannel("App", deskietest.ChannelAsync, "")
	id, _ := srv.AddUser("cch1", "app-user-42", deskietest.UserName("Ann"), deskietest.UserEmail("ann@example.com"))
	u, _ := srv.UserByCustomID("cch1", "app-user-42")
	fmt.Println(id == u.ID, u.FullName, len(u.Linked))
	// Output: true Ann 1
}

// The control API drives the fake from any language: here an agent answers a
// case, and the answer says how the channel's webhook took it.
func Example_controlAPI() {
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer hook.Close()
	srv := deskietest.NewServer()
	defer srv.Close()
	srv.AddChannel("App", deskietest.ChannelSync, hook.URL)
	ids, _ := srv.SeedCases("cch1", "app-user-42", 1)

	resp, err := http.Post(srv.URL+"/_fake/reply", "application/json",
		strings.NewReader(fmt.Sprintf(`{"case_id":%d,"staff_id":7,"content":"Hello!"}`, ids[0])))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var out struct {
		Delivery struct {
			Status int               `json:"status"`
			Form   map[string]string `json:"form"`
		} `json:"delivery"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	c, _ := srv.Case(ids[0])
	fmt.Println(resp.StatusCode, out.Delivery.Status, out.Delivery.Form["object[custom_user_id]"], c.Status)
	// Output: 201 200 app-user-42 waiting
}
