// Package browsertest drives the example programs (examples/livechat and
// examples/portal) and the fake Deskie's agent console in headless Chromium, as a
// person would: a customer types in the widget, an agent answers in the console,
// and the reply shows up without a reload.
//
// It is a module of its own so that chromedp stays out of the SDK's go.mod. Run
// it from this directory:
//
//	cd browsertest && go test -count=1 ./...
//
// The tests build the examples with `go build` and run them as processes on free
// loopback ports, reading the URLs they print. Chromium is found at
// $DESKIE_CHROMIUM, else /usr/bin/chromium (Debian: apt-get install -y chromium).
// Without it the tests skip, except in CI (CI set), where a missing browser is a
// failure. When a test fails it saves a screenshot and the HTML of each page to a
// temporary folder and prints the paths.
package browsertest
