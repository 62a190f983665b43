// Package deskietest is an in-memory fake Deskie (and Omnidesk) server that speaks
// the real wire protocol, so a custom-channel bridge can be tested end to end with
// no account and no network.
//
//	srv := deskietest.Start(t) // closed when the test ends
//	ch := srv.AddChannel("App", deskietest.ChannelSync, appWebhookURL) // "cch1"
//	client, _ := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(), deskie.WithBaseURL(srv.URL))
//	// … the bridge writes through client.Chats.Send; agents answer with
//	srv.AgentReply(caseID, 7, "Hello!") // POSTs the webhook to appWebhookURL
//
// # The API
//
// It serves, with the real shapes (root keys like {"case":{…}}, numbered-key lists
// with total_count, RFC1123Z dates and "-" for unset ones, {"error":"…"} codes, the
// lower-case rate-limit headers):
//
//	POST/GET /api/cases.json              GET/PUT /api/cases/{id}.json
//	POST/GET /api/cases/{id}/messages.json
//	GET      /api/custom_channels.json
//	POST/GET /api/users.json              GET /api/users/{id}.json
//	PUT      /api/users/{id}/link.json
//
// A known path with another method is answered 405 {"error":"method_not_allowed"}
// (with Allow); any other /api/ path 501 {"error":"not_implemented_in_fake"}, since
// the real service may well serve it.
//
// GET /api/cases.json filters by user_id, user_custom_id, channel, status and
// show_active_chats; sort is created_at_desc (the default), created_at_asc,
// updated_at_desc or updated_at_asc; from_time/to_time bound created_at and
// from_updated_time/to_updated_time bound updated_at, both ends inclusive, given
// as unix seconds or a date: RFC1123Z as the API writes it ("Tue, 23 Dec 2014
// 10:55:23 +0200", also with the "+" left unescaped), RFC1123, RFC 3339, or
// "2006-01-02 15:04:05" (in the account's zone, UTC+3). A malformed value is
// answered 400 {"error":"wrong_<parameter>"}. show_merged_cases is accepted;
// merged cases are gone either way (see [Server.MergeCases]). A case's updated_at
// moves with every message added to it (customer, agent, note, rule), every
// change of status or field, and, for the case merged into, every merge.
//
// GET /api/cases/{id}/messages.json follows order=asc|desc; without it messages
// come oldest first, or newest first under [WithMessageOrder]([NewestFirst]) — the
// real default is undocumented, so test both.
//
// Domain rules follow the vendor's custom-channel article: users are found or
// created by (channel, user_custom_id) and the case answer carries user_id; an
// e-mail or phone given on create is linked unless already tied to another custom
// id of the same channel; a customer's message reopens a waiting case; an agent's
// reply sets it waiting and is POSTed to the channel's webhook (b_from_api=1 when
// it was added through the API, 0 when an agent wrote it in the helpdesk: the
// test controls and the control API). A delivery that fails is not sent again
// unless redelivery is turned on ([WithRedelivery]). Where the real service is
// undocumented the fake makes a choice and says so on the method (see
// [Server.MergeCases], the closed-case rule in [Server.CloseCase], and
// [MessageOrder]).
//
// # Time
//
// By default the server runs on real time. [WithClock] hands time to the test: the
// dates recorded, the rate-limit window and the redelivery schedule follow the
// clock given, [NewClock] makes one to move by hand, and no timer runs on its own
// ([Server.FlushRedeliveries] sends the redeliveries that fell due).
//
// # The control API
//
// The same server drives the fake over plain JSON under /_fake/, for tests in any
// language and for the console; it is what the `deskie fake` command serves. It
// needs no credentials (it is a local test tool: keep it on loopback); every POST
// must carry Content-Type: application/json (a body may be empty), so that a web
// page on another origin cannot drive it. Ids may be sent as numbers or strings;
// unknown fields are refused. Dates are RFC 3339, null when unset. Errors are
// {"error":"<code>"} with 400 (bad input; bad_json adds "message"), 404
// (case_not_found, channel_not_found, unknown_control), 405, 409 or 415
// (json_required). A case is
//
//	{"id":2001,"number":"001-014007","subject":"Hi","status":"open","channel":"cch1",
//	 "channel_title":"App","user_id":5654846849,"user_custom_id":"u-42","user_name":"Ann",
//	 "staff_id":0,"deleted":false,"spam":false,"messages":3,"preview":"last message…",
//	 "created_at":"2025-05-05T03:15:17+03:00","updated_at":"…","closed_at":null}
//
// a message {"id","case_id","kind" (customer, agent, note or rule),"user_id",
// "staff_id","content","content_html","note","sent_via_rule","from_api",
// "created_at","attachments":[{"id","name","size","mime_type","url"}]}, a delivery
// {"message_id","case_id","url","status" (0: unreachable),"error" (null when 2xx),
// "attempt" (1 for the first POST),"at","form":{"type":"message_new",
// "object[case_id]":"2001",…}}, a user {"id","channel","user_custom_id","name",
// "email","phone","linked":[ids],"created_at"}, a channel {"id","code","title",
// "type","webhook_url","active"}. Lists take page (from 1), limit and order
// (asc|desc) and answer {"<items>":[…],"total":N,"page":P,"limit":L}.
//
//	GET  /_fake/state                     {"version":N (moves on every change),"url","staff_email",
//	                                       "channels":[…],"counts":{"cases","users","messages","deliveries","requests"},
//	                                       "faults":[{"match","left","kind"}],"fault_kinds":[…],
//	                                       "pending_redeliveries":[{"message_id","case_id","due"}],
//	                                       "recent_deliveries":[latest 10, newest first],
//	                                       "settings":{"redelivery_seconds":[…],"message_order",
//	                                                   "rate_limit","rate_window_seconds"}}
//	GET  /_fake/cases                     ?page&limit (≤100, default 50)&sort (default updated_at_desc)
//	                                       &status&channel → {"cases":[…],"total","page","limit"};
//	                                       active chats included, merged cases not; subjects cut to
//	                                       200 characters
//	GET  /_fake/cases/{id}                {"case":{…}}; a merged-away id: 404 with "merged_into"
//	GET  /_fake/cases/{id}/messages       ?page&limit (≤500, default 100)&order (default asc)
//	                                       &truncate=N (cut content and content_html to N characters)
//	                                       → {"messages":[…],…}
//	GET  /_fake/users                     → {"users":[…],…} by id
//	GET  /_fake/deliveries                → {"deliveries":[…],…} oldest first; every attempt
//	GET  /_fake/requests                  → {"requests":[{"method","path","query","status","body",
//	                                       "body_truncated"}],…} the API requests logged
//	POST /_fake/reply   {"case_id","staff_id"?: 1,"content"}   an agent's reply: the case becomes
//	                                       waiting and the channel's webhook is POSTed (b_from_api=0) and
//	                                       waited for → 201 {"message_id","message":{…},"delivery":{…}|null}
//	                                       (null: the channel has no webhook URL; a failed delivery is
//	                                       still 201, see delivery.error)
//	POST /_fake/note    {"case_id","staff_id"?,"content"}      an internal note (note=1), delivered alike
//	POST /_fake/rule    {"case_id","content"}                  an automation rule's message (sent_via_rule=1)
//	POST /_fake/close   {"case_id"}                            → {"case":{…}}
//	POST /_fake/status  {"case_id","status"}                   open, waiting or closed → {"case":{…}}
//	POST /_fake/merge   {"from","into"}                        → {"case":{the case merged into}}
//	POST /_fake/fault   {"match","n"?: 1,"kind"}               as [Server.Fail]; kind is one of
//	                                       fault_kinds ("500", "500-after-acting", "429", "slow",
//	                                       "drop-before-acting", "drop-after-acting", "malformed-json")
//	                                       → 201 {"faults":[…]}
//	POST /_fake/faults/clear                                   → {"faults":[]}
//	POST /_fake/channels {"title","type"?: "async","webhook_url"?}  → 201 {"channel":{…}} (code "cch<N>")
//	POST /_fake/webhook_url {"channel","webhook_url"}          → {"channel":{…}}
//	POST /_fake/users   {"channel","user_custom_id","name"?,"email"?,"phone"?}  as [Server.AddUser]
//	                                       → 201 {"user":{…}}; 409 when it exists
//	POST /_fake/seed    {"channel","user_custom_id","n"}       n ≤ 10000 cases → 201 {"case_ids":[…]}
//	POST /_fake/settings {"redelivery_seconds"?: [1, 5],"message_order"?: "newest_first"}
//	                                       → {"settings":{…}}; [] turns redelivery off
//	POST /_fake/wait    {"timeout_seconds"?: 10}               waits (≤ 60 s) for webhook deliveries
//	                                       being sent, and scheduled redeliveries on real time →
//	                                       {"idle":bool,"in_flight":N,"pending_redeliveries":N}
//	POST /_fake/reset                                          as [Server.Reset] → {"ok":true}
//
// # The console
//
// GET /console serves an agent console (one page, no external assets): the cases
// with their status and channel, a case's thread, a box to reply as an agent or add
// a note, and buttons to close, merge and inject faults. It polls the control API
// every second. GET / redirects to it. Its element ids, for browser tests, are
// listed at the top of console.html.
//
// # Serving on a chosen address
//
// [NewServer] and [Start] listen on a free loopback port; [NewServerOn] serves on a
// listener the caller opened (deskie fake --addr 127.0.0.1:8025), and
// [Server.Handler] returns everything to mount elsewhere.
//
// deskietest does not import the SDK: it is an independent implementation of the
// wire protocol, so an encoding mistake in the SDK fails a test instead of being
// mirrored here. It is safe for concurrent use.
package deskietest
