package browsertest

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPortal: in examples/portal a customer writes to support and reads the
// agent's reply in the thread, live; another customer cannot open that case.
func TestPortal(t *testing.T) {
	b := newBrowser(t)
	ex := startExample(t, "portal", "portal", "console")
	alice, bob, console := b.page("alice", true), b.page("bob", true), b.page("console", true)

	// Alice signs in and writes.
	const subject, text = "Broken zipper", "The zipper of my new bag broke on the first day."
	do(t, alice, 20*time.Second, "alice signs in and writes",
		chromedp.Navigate(ex.urls["portal"]+"/"),
		chromedp.Click(chromedp.CSS("#signin-alice")),
		chromedp.WaitVisible(chromedp.CSS("#new-message")),
		chromedp.SendKeys(chromedp.CSS("#subject"), subject),
		chromedp.SendKeys(chromedp.CSS("#text"), text),
		chromedp.Click(chromedp.CSS("#send")),
	)
	waitFor(t, alice, 10*time.Second, "alice's new case page", `document.body.dataset.caseId !== undefined && document.querySelector('#thread') !== null`)
	caseID := eval[string](t, alice, "the case id", `document.body.dataset.caseId`)
	if got := eval[string](t, alice, "the subject", `document.querySelector('#case-subject').textContent`); got != subject {
		t.Fatalf("the case's subject is %q", got)
	}

	// Bob, in his own browser, cannot see it: not by URL, not in his list.
	do(t, bob, 20*time.Second, "bob signs in",
		chromedp.Navigate(ex.urls["portal"]+"/"),
		chromedp.Click(chromedp.CSS("#signin-bob")),
		chromedp.WaitVisible(chromedp.CSS("#new-message")),
	)
	if eval[bool](t, bob, "bob's list", `document.querySelector('#cases tr[data-case-id="`+caseID+`"]') !== null || document.body.textContent.includes(`+js(subject)+`)`) {
		t.Fatal("bob's list shows alice's case")
	}
	do(t, bob, 20*time.Second, "bob opens alice's case by its URL",
		chromedp.Navigate(ex.urls["portal"]+"/cases/"+caseID),
		chromedp.WaitVisible(chromedp.CSS("#error-status")),
	)
	if status := eval[string](t, bob, "the error page", `document.querySelector('#error-status').textContent`); status != "404" {
		t.Fatalf("bob got %q for alice's case", status)
	}
	if eval[bool](t, bob, "the error page's text", `document.body.textContent.includes(`+js(text)+`) || document.body.textContent.includes(`+js(subject)+`)`) {
		t.Fatal("the error page shows alice's case")
	}

	// The agent answers in the console; the reply shows up in alice's open
	// thread without a reload.
	do(t, console, 20*time.Second, "opening the console on the case", chromedp.Navigate(ex.urls["console"]+"#case-"+caseID))
	waitFor(t, console, 10*time.Second, "alice's message in the console",
		`[...document.querySelectorAll('#thread li[data-kind="customer"]')].some(li => li.textContent.includes(`+js(text)+`))`)
	eval[bool](t, alice, "marking the page", `(window.__notReloaded = true)`)
	const reply = "Sorry about that, Alice! A replacement is on its way."
	do(t, console, 10*time.Second, "replying in the console",
		chromedp.SendKeys(chromedp.CSS("#reply-text"), reply),
		chromedp.Click(chromedp.CSS("#reply-send")),
	)
	waitFor(t, alice, 2*time.Second, "the reply in alice's thread",
		`[...document.querySelectorAll('#thread li.msg.agent .text')].some(e => e.textContent === `+js(reply)+`)`)
	if !eval[bool](t, alice, "checking for a reload", `window.__notReloaded === true`) {
		t.Fatal("the thread reloaded to show the reply")
	}

	// Alice answers from the thread; it stays in the same case.
	do(t, alice, 10*time.Second, "alice replies",
		chromedp.SendKeys(chromedp.CSS("#text"), "Thank you!"),
		chromedp.Click(chromedp.CSS("#send")),
	)
	waitFor(t, alice, 10*time.Second, "alice's reply in the thread", `document.querySelector('#notice') !== null && [...document.querySelectorAll('#thread li.msg.customer .text')].some(e => e.textContent === 'Thank you!')`)
	if got := eval[string](t, alice, "the case id", `document.body.dataset.caseId`); got != caseID {
		t.Fatalf("alice's reply went to case %s, not %s", got, caseID)
	}
}
