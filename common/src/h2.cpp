#include "portdemo/h2.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <utility>

namespace portdemo {

namespace {

// A stream's state: its request while the head comes in, then its answer while it is sent.
struct stream_state {
  h2_request request;
  std::size_t header_bytes = 0;
  std::size_t header_lines = 0;
  bool have_method = false;
  bool have_path = false;
  bool head_done = false;  // the header block is complete (it was handed out)
  bool answering = false;  // a response was submitted
  std::string body;        // what the data source reads from
  std::size_t sent = 0;    // of body, framed
  bool streaming = false;  // open(): more body may come
  bool ended = false;      // open(): end() came
  bool closed = false;     // the library closed the stream
};

std::string_view view(const std::uint8_t* p, std::size_t n) { return {reinterpret_cast<const char*>(p), n}; }

// A GOAWAY the library sent with an error code: the code's name and the words it put in the frame.
std::string goaway_words(const nghttp2_goaway& g) {
  std::string words = nghttp2_http2_strerror(g.error_code);
  if (g.opaque_data_len > 0) words += ": " + std::string(reinterpret_cast<const char*>(g.opaque_data), g.opaque_data_len);
  return words;
}

}  // namespace

struct h2_connection::impl {
  explicit impl(h2_connection& s) : self(s) {}
  h2_connection& self;
  h2_limits limits;
  nghttp2_session* session = nullptr;
  std::unordered_map<std::int32_t, std::unique_ptr<stream_state>> streams;
  std::vector<h2_request> ready;
  std::string out;
  bool failed = false;

  stream_state* find(std::int32_t id) const {
    auto it = streams.find(id);
    return it == streams.end() ? nullptr : it->second.get();
  }
};

// The library's callbacks, friends of h2_connection.
struct h2_callbacks {
  using impl = h2_connection::impl;

  static int begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& d = *static_cast<impl*>(user);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    auto s = std::make_unique<stream_state>();
    s->request.stream = frame->hd.stream_id;
    d.streams[frame->hd.stream_id] = std::move(s);
    ++d.self.open_;
    ++d.self.incomplete_;
    d.self.most_ = std::max<std::uint32_t>(d.self.most_, static_cast<std::uint32_t>(d.self.open_));
    return 0;
  }

  static int header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                    const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    auto& d = *static_cast<impl*>(user);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    stream_state* s = d.find(frame->hd.stream_id);
    if (!s || s->request.error) return 0;  // over a limit already: the rest is not kept
    const std::string_view n = view(name, namelen);
    const std::string_view v = view(value, valuelen);
    http_request& r = s->request.head;
    if (n == ":method") {
      r.method.assign(v);
      s->have_method = true;
    } else if (n == ":path") {
      if (v.size() > d.limits.head.request_line) {
        s->request.error = http_error::uri_too_long;
        return 0;
      }
      r.target.assign(v);
      s->have_path = true;
    } else if (n == ":authority") {
      // The Host header of HTTP/1.1, as RFC 9113 8.3.1 says: the page's claims read it there.
      r.headers.emplace_back("Host", std::string(v));
    } else if (!n.empty() && n.front() == ':') {
      // :scheme, :protocol: checked by the library, not shown
    } else {
      s->header_bytes += n.size() + v.size() + 4;  // as "Name: value\r\n" would count
      ++s->header_lines;
      if (s->header_bytes > d.limits.head.header_bytes || s->header_lines > d.limits.head.header_lines) {
        s->request.error = http_error::headers_too_large;
        return 0;
      }
      r.headers.emplace_back(std::string(n), std::string(v));
    }
    return 0;
  }

  static int frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& d = *static_cast<impl*>(user);
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      d.self.peer_goaway_ = true;
      return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    stream_state* s = d.find(frame->hd.stream_id);
    if (!s || s->head_done) return 0;
    s->head_done = true;
    --d.self.incomplete_;
    if (!s->request.error && (!s->have_method || !s->have_path)) s->request.error = http_error::bad_request;
    s->request.has_body = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0;
    d.ready.push_back(s->request);
    return 0;
  }

  static int stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t, void* user) {
    auto& d = *static_cast<impl*>(user);
    auto it = d.streams.find(stream_id);
    if (it == d.streams.end()) return 0;
    if (!it->second->head_done) --d.self.incomplete_;
    --d.self.open_;
    d.streams.erase(it);
    // A request still waiting in `ready` keeps its copy; respond() then finds no stream.
    return 0;
  }

  // The library's own GOAWAY with an error code: a violation it found in what the client sent,
  // named by the code and the words it put in the frame.
  static int frame_sent(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& d = *static_cast<impl*>(user);
    if (frame->hd.type != NGHTTP2_GOAWAY || frame->goaway.error_code == NGHTTP2_NO_ERROR) return 0;
    if (d.self.error_.empty()) d.self.error_ = goaway_words(frame->goaway);
    return 0;
  }

  // A connection error the library found in what the client sent: its words, kept for the log.
  static int library_error(nghttp2_session*, int, const char* msg, std::size_t len, void* user) {
    auto& d = *static_cast<impl*>(user);
    if (d.self.error_.empty()) d.self.error_.assign(msg, len);
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source*, void* user) {
    auto& d = *static_cast<impl*>(user);
    stream_state* s = d.find(stream_id);
    if (!s) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const std::size_t n = std::min(length, s->body.size() - s->sent);
    if (n > 0) std::memcpy(buf, s->body.data() + s->sent, n);
    s->sent += n;
    if (s->sent == s->body.size()) {
      if (s->streaming) {
        // Framed all of it: the buffer starts over, so a long stream holds only what waits.
        s->body.clear();
        s->sent = 0;
      }
      if (!s->streaming || s->ended) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        ++d.self.answered_;
      } else if (n == 0) {
        return NGHTTP2_ERR_DEFERRED;
      }
    }
    return static_cast<ssize_t>(n);
  }
};

h2_connection::h2_connection(h2_limits limits) : impl_(std::make_unique<impl>(*this)) {
  impl_->limits = limits;
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &h2_callbacks::begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, &h2_callbacks::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &h2_callbacks::frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, &h2_callbacks::stream_close);
  nghttp2_session_callbacks_set_error_callback2(cb, &h2_callbacks::library_error);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, &h2_callbacks::frame_sent);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // The library's own limit on header block size (a CONTINUATION flood) stays; ours is counted
  // per field, above, and answered with 431.
  nghttp2_session_server_new2(&impl_->session, cb, impl_.get(), opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits.max_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<std::uint32_t>(limits.head.header_bytes + limits.head.request_line + 1024)},
  };
  nghttp2_submit_settings(impl_->session, NGHTTP2_FLAG_NONE, settings, std::size(settings));
}

h2_connection::~h2_connection() { nghttp2_session_del(impl_->session); }

bool h2_connection::receive(std::string_view bytes) {
  if (impl_->failed) return false;
  const ssize_t n = nghttp2_session_mem_recv(impl_->session, reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                             bytes.size());
  if (n < 0) {
    impl_->failed = true;
    if (error_.empty()) error_ = nghttp2_strerror(static_cast<int>(n));
    // The library has queued its GOAWAY for most errors; a bad preface gets one here.
    nghttp2_session_terminate_session(impl_->session, NGHTTP2_PROTOCOL_ERROR);
    return false;
  }
  return true;
}

std::vector<h2_request> h2_connection::take_requests() {
  std::vector<h2_request> out;
  out.swap(impl_->ready);
  return out;
}

namespace {
std::vector<nghttp2_nv> to_nv(const std::vector<std::pair<std::string_view, std::string>>& fields) {
  std::vector<nghttp2_nv> nv;
  nv.reserve(fields.size());
  for (const auto& [name, value] : fields)
    nv.push_back({const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(name.data())),
                  const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(value.data())), name.size(),
                  value.size(), NGHTTP2_NV_FLAG_NONE});
  return nv;
}
}  // namespace

void h2_connection::respond(std::int32_t stream, const http_response& response, bool head_only) {
  stream_state* s = impl_->find(stream);
  if (!s || s->answering) return;  // reset by the client meanwhile
  s->answering = true;
  const auto fields = response_fields(response);
  const auto nv = to_nv(fields);
  if (head_only || response.body.empty()) {
    nghttp2_submit_response(impl_->session, stream, nv.data(), nv.size(), nullptr);
    ++answered_;
    return;
  }
  s->body = response.body;
  nghttp2_data_provider provider{};
  provider.read_callback = &h2_callbacks::read_body;
  nghttp2_submit_response(impl_->session, stream, nv.data(), nv.size(), &provider);
}

void h2_connection::open(std::int32_t stream, const http_response& head) {
  stream_state* s = impl_->find(stream);
  if (!s || s->answering) return;
  s->answering = true;
  s->streaming = true;
  s->body = head.body;
  auto fields = response_fields(head);
  // No content-length: the body's end is the stream's.
  std::erase_if(fields, [](const auto& f) { return f.first == "content-length"; });
  const auto nv = to_nv(fields);
  nghttp2_data_provider provider{};
  provider.read_callback = &h2_callbacks::read_body;
  nghttp2_submit_response(impl_->session, stream, nv.data(), nv.size(), &provider);
}

void h2_connection::send(std::int32_t stream, std::string_view bytes) {
  stream_state* s = impl_->find(stream);
  if (!s || !s->streaming || s->ended || bytes.empty()) return;
  s->body.append(bytes);
  nghttp2_session_resume_data(impl_->session, stream);
}

void h2_connection::end(std::int32_t stream) {
  stream_state* s = impl_->find(stream);
  if (!s || !s->streaming || s->ended) return;
  s->ended = true;
  nghttp2_session_resume_data(impl_->session, stream);
}

std::size_t h2_connection::unsent(std::int32_t stream) const {
  const stream_state* s = impl_->find(stream);
  return s ? s->body.size() - s->sent : 0;
}

bool h2_connection::held_back() const {
  for (const auto& [id, s] : impl_->streams)
    if (s->answering && s->sent < s->body.size()) return true;
  return false;
}

bool h2_connection::closed(std::int32_t stream) const { return impl_->find(stream) == nullptr; }

void h2_connection::goaway() {
  nghttp2_submit_goaway(impl_->session, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(impl_->session),
                        NGHTTP2_NO_ERROR, nullptr, 0);
}

std::string_view h2_connection::output() {
  impl_->out.clear();
  while (impl_->out.size() < 64 * 1024) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(impl_->session, &data);
    if (n <= 0) break;  // nothing more, or a fatal error (then wants_write() turns false)
    impl_->out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  return impl_->out;
}

bool h2_connection::wants_read() const { return !impl_->failed && nghttp2_session_want_read(impl_->session) != 0; }
bool h2_connection::wants_write() const { return nghttp2_session_want_write(impl_->session) != 0; }

struct h2_client::impl {
  explicit impl(h2_client& s) : self(s) {}
  h2_client& self;
  nghttp2_session* session = nullptr;
  std::unordered_map<std::int32_t, h2_answer> pending;  // streams whose answer is still coming
  std::vector<h2_answer> done;
  std::string out;
  bool failed = false;
  std::string_view scheme = "http";
};

struct h2_client_callbacks {
  using impl = h2_client::impl;
  static int header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                    const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    auto& d = *static_cast<impl*>(user);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    auto it = d.pending.find(frame->hd.stream_id);
    if (it == d.pending.end()) return 0;
    if (view(name, namelen) == ":status") {
      int status = 0;
      for (char ch : view(value, valuelen)) status = status * 10 + (ch - '0');
      it->second.status = status;
    }
    return 0;
  }
  static int data(nghttp2_session*, std::uint8_t, std::int32_t stream, const std::uint8_t* bytes, std::size_t len,
                  void* user) {
    auto& d = *static_cast<impl*>(user);
    auto it = d.pending.find(stream);
    if (it != d.pending.end() && it->second.body.size() < 1024 * 1024) it->second.body.append(view(bytes, len));
    return 0;
  }
  static int frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& d = *static_cast<impl*>(user);
    if (frame->hd.type == NGHTTP2_GOAWAY) d.self.goaway_ = nghttp2_http2_strerror(frame->goaway.error_code);
    return 0;
  }
  // The library's GOAWAY with an error: what the server sent was not HTTP/2 as it should be.
  static int frame_sent(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& d = *static_cast<impl*>(user);
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR && d.self.error_.empty())
      d.self.error_ = goaway_words(frame->goaway);
    return 0;
  }
  static int stream_close(nghttp2_session*, std::int32_t stream, std::uint32_t error_code, void* user) {
    auto& d = *static_cast<impl*>(user);
    auto it = d.pending.find(stream);
    if (it == d.pending.end()) return 0;
    it->second.reset = error_code != NGHTTP2_NO_ERROR;
    d.done.push_back(std::move(it->second));
    d.pending.erase(it);
    return 0;
  }
};

h2_client::h2_client(bool over_tls) : impl_(std::make_unique<impl>(*this)) {
  if (over_tls) impl_->scheme = "https";
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_header_callback(cb, &h2_client_callbacks::header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &h2_client_callbacks::data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &h2_client_callbacks::frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, &h2_client_callbacks::stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, &h2_client_callbacks::frame_sent);
  nghttp2_session_client_new(&impl_->session, cb, impl_.get());
  nghttp2_session_callbacks_del(cb);
  nghttp2_submit_settings(impl_->session, NGHTTP2_FLAG_NONE, nullptr, 0);
}

h2_client::~h2_client() { nghttp2_session_del(impl_->session); }

std::int32_t h2_client::get(std::string_view authority, std::string_view path) {
  const auto nv_of = [](std::string_view n, std::string_view v) {
    return nghttp2_nv{const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(n.data())),
                      const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(v.data())), n.size(),
                      v.size(), NGHTTP2_NV_FLAG_NONE};
  };
  const nghttp2_nv nv[] = {nv_of(":method", "GET"), nv_of(":scheme", impl_->scheme), nv_of(":authority", authority),
                           nv_of(":path", path), nv_of("user-agent", "demo-client")};
  const std::int32_t id = nghttp2_submit_request(impl_->session, nullptr, nv, std::size(nv), nullptr, nullptr);
  if (id > 0) impl_->pending[id].stream = id;
  return id;
}

bool h2_client::receive(std::string_view bytes) {
  if (impl_->failed) return false;
  const ssize_t n = nghttp2_session_mem_recv(impl_->session, reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                             bytes.size());
  if (n < 0) {
    impl_->failed = true;
    error_ = nghttp2_strerror(static_cast<int>(n));
    return false;
  }
  return true;
}

std::string_view h2_client::output() {
  impl_->out.clear();
  while (impl_->out.size() < 64 * 1024) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(impl_->session, &data);
    if (n <= 0) break;
    impl_->out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  return impl_->out;
}

const std::vector<h2_answer>& h2_client::answers() const noexcept { return impl_->done; }

void h2_client::finish() { nghttp2_session_terminate_session(impl_->session, NGHTTP2_NO_ERROR); }

}  // namespace portdemo
