package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
)

// Who the visitor is: the demo's customers, the signed session cookie,
// sign-in and sign-out, and the guard on every request.

// demoCustomer is one of the accounts of the demo's sign-in page. Login is their
// id on the service, sent as user_custom_id.
type demoCustomer struct {
	Login, Name, Email string
}

var demoCustomers = []demoCustomer{
	{"alice", "Alice Martin", "alice@example.com"},
	{"bob", "Bob Chen", "bob@example.com"},
	{"carol", "Carol Diaz", "carol@example.com"},
}

func findCustomer(login string) (demoCustomer, bool) {
	for _, c := range demoCustomers {
		if c.Login == login {
			return c, true
		}
	}
	return demoCustomer{}, false
}

// guard sets the security headers and refuses cross-site form posts.
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		if r.Method == http.MethodPost && !strings.HasPrefix(r.URL.Path, "/deskie/") {
			if origin := r.Header.Get("Origin"); origin != "" {
				if u, err := url.Parse(origin); err != nil || u.Host != r.Host {
					http.Error(w, "cross-site request refused", http.StatusForbidden)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// session returns the signed-in customer, from the signed session cookie.
func (a *app) session(r *http.Request) (demoCustomer, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return demoCustomer{}, false
	}
	login, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(a.sign(login))) {
		return demoCustomer{}, false
	}
	return findCustomer(login)
}

func (a *app) sign(login string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(login))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// signedIn runs h for a signed-in customer and sends anyone else to sign in.
func (a *app) signedIn(h func(http.ResponseWriter, *http.Request, demoCustomer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, ok := a.session(r)
		if !ok {
			if r.Method == http.MethodGet && r.URL.Path != "/events" {
				http.Redirect(w, r, "/", http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		h(w, r, who)
	}
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.session(r); ok {
		http.Redirect(w, r, "/cases", http.StatusSeeOther)
		return
	}
	a.render(w, http.StatusOK, "signin.html", map[string]any{"Title": "Sign in", "Customers": demoCustomers})
}

func (a *app) signIn(w http.ResponseWriter, r *http.Request) {
	who, ok := findCustomer(r.PostFormValue("login"))
	if !ok {
		http.Error(w, "no such demo customer", http.StatusBadRequest)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: who.Login + "." + a.sign(who.Login), Path: "/", HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteLaxMode}) //nolint:gosec // G124: Secure when served over HTTPS; the demo is plain HTTP on loopback
	http.Redirect(w, r, "/cases", http.StatusSeeOther)
}

func (a *app) signOut(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteLaxMode, MaxAge: -1}) //nolint:gosec // G124: Secure when served over HTTPS; the demo is plain HTTP on loopback
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// isHTTPS reports whether the page was asked for over HTTPS (directly or behind a
// proxy that says so): the session cookie is then Secure. The demo itself runs on
// plain HTTP on loopback.
func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}
