package deskietest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/deskie-go/deskie/deskietest"
)

// The fake speaks plain HTTP: any client can use it. With the SDK, pass srv.URL
// to deskie.WithBaseURL.
func Example() {
	srv := deskietest.NewServer()
	defer srv.Close()
	srv.AddChannel("Mobile app", deskietest.ChannelAsync, "")

	req, _ := http.NewRequest("POST", srv.URL+"/api/cases.json", strings.NewReader(
		`{"case":{"channel":"cch1","user_custom_id":"app-user-42","subject":"Hi","content":"Hello"}}`))
	req.SetBasicAuth(srv.StaffEmail(), srv.APIKey())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("api_calls_left"))

	c := srv.Cases()[0]
	fmt.Println(c.ID, c.Status, c.Channel)

	// an agent closes it; the next customer message must open a new case
	_ = srv.CloseCase(c.ID)
	c, _ = srv.Case(c.ID)
	fmt.Println(c.Status)
	// Output:
	// 201 1498
	// 2001 open cch1
	// closed
}

// Faults make the fake fail the way networks do, for reliability tests.
func ExampleServer_Fail() {
	srv := deskietest.NewServer()
	defer srv.Close()
	srv.AddChannel("App", deskietest.ChannelAsync, "")

	// the next case creation is applied, but its answer never arrives
	srv.Fail("POST /api/cases.json", 1, deskietest.FaultDropAfter)
	req, _ := http.NewRequest("POST", srv.URL+"/api/cases.json", strings.NewReader(
		`{"case":{"channel":"cch1","user_custom_id":"u","content":"x"}}`))
	req.SetBasicAuth(srv.StaffEmail(), srv.APIKey())
	req.Header.Set("Content-Type", "application/json")
	_, err := http.DefaultClient.Do(req)
	fmt.Println(err != nil, len(srv.Cases()))
	// Output: true 1
}
