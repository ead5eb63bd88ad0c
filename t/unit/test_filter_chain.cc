// The filter chain driver through the in-process harness: continue, local reply, pause then
// resume later, pause and resume inline, destroyed while paused, two filters that both pause,
// stale handles, per-request state in the arena, response head lines and body filters.
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "filter_harness.h"
#include "http/filter.h"
#include "http/stream.h"

using gw::http::FilterChain;
using gw::http::FilterStatus;
using gw::http::ResumeHandle;
using gw::http::Stream;
using gw::test::FilterHarness;

namespace {

// What every test filter records, in order, as "name:event".
std::vector<std::string> g_events;

// Lets every request through; counts its hooks.
class PassFilter : public gw::http::Filter {
  public:
    explicit PassFilter(std::string name)
        : Filter(gw::http::kHookRequest | gw::http::kHookResponseHead | gw::http::kHookDestroy, sizeof(int)),
          name_(std::move(name)) {}
    FilterStatus on_request(Stream&, void* ctx) override {
        new (ctx) int(7);
        g_events.push_back(name_ + ":request");
        return FilterStatus::Continue;
    }
    void on_response_head(Stream&, void* ctx, gw::http::ResponseHead& head) override {
        EXPECT_EQ(*static_cast<int*>(ctx), 7) << "its state is where on_request left it";
        head.add("x-" + name_, std::to_string(head.status()));
    }
    void on_destroy(Stream&, void*) override { g_events.push_back(name_ + ":destroy"); }

  private:
    std::string name_;
};

// Answers 403 itself.
class DenyFilter : public gw::http::Filter {
  public:
    DenyFilter() : Filter(gw::http::kHookRequest | gw::http::kHookDestroy) {}
    FilterStatus on_request(Stream& s, void*) override {
        g_events.push_back("deny:request");
        s.reply_error(403, "access denied");
        return FilterStatus::Done;
    }
    void on_destroy(Stream&, void*) override { g_events.push_back("deny:destroy"); }
};

// An asynchronous operation a pausing filter waits for: the test completes it later (or the
// filter completes it inline). Cancelled by on_destroy; completing a cancelled one does nothing.
struct Op {
    ResumeHandle handle;
    bool pending = false;
    bool cancelled = false;
    void complete(int status = 0) {
        if (!pending) return;
        pending = false;
        if (status)
            handle.respond_error(status, "no");
        else
            handle.resume();
    }
};

class AsyncFilter : public gw::http::Filter {
  public:
    enum class Mode { Later, InlineResume, InlineReply };
    AsyncFilter(std::string name, Mode mode)
        : Filter(gw::http::kHookRequest | gw::http::kHookDestroy, sizeof(Op*), alignof(Op*)),
          name_(std::move(name)),
          mode_(mode) {}
    FilterStatus on_request(Stream& s, void* ctx) override {
        g_events.push_back(name_ + ":request");
        op.handle = s.pause_handle();
        op.pending = true;
        op.cancelled = false;
        *static_cast<Op**>(ctx) = &op;
        if (mode_ == Mode::InlineResume) op.complete();
        if (mode_ == Mode::InlineReply) op.complete(503);
        return FilterStatus::Pause;
    }
    void on_destroy(Stream&, void* ctx) override {
        g_events.push_back(name_ + ":destroy");
        Op* o = *static_cast<Op**>(ctx);
        if (o->pending) {
            o->pending = false;
            o->cancelled = true;
        }
    }
    Op op;

  private:
    std::string name_;
    Mode mode_;
};

class ChainTest : public ::testing::Test {
  protected:
    void SetUp() override { g_events.clear(); }
    FilterHarness h;
};

// Requests meet the filters in list order, responses in the reverse order (nearest the upstream
// first: src/http/filter.h).
TEST_F(ChainTest, EveryFilterLetsTheRequestThroughInListOrder) {
    PassFilter a("a"), b("b");
    FilterChain chain;
    ASSERT_TRUE(chain.add(&a));
    ASSERT_TRUE(chain.add(&b));
    EXPECT_EQ(h.run(chain), FilterStatus::Continue);
    EXPECT_EQ(h.reply_status(), 0);
    EXPECT_EQ(h.response_headers(200), "x-b: 200\r\nx-a: 200\r\n");
    h.end();
    EXPECT_EQ(g_events, (std::vector<std::string>{"a:request", "b:request", "b:destroy", "a:destroy"}));
}

TEST_F(ChainTest, ALocalReplyStopsTheChainAndOnlyFiltersThatRanAreDestroyed) {
    PassFilter a("a"), c("c");
    DenyFilter deny;
    FilterChain chain;
    chain.add(&a);
    chain.add(&deny);
    chain.add(&c);
    EXPECT_EQ(h.run(chain), FilterStatus::Done);
    EXPECT_EQ(h.reply_status(), 403);
    EXPECT_EQ(h.reply_content_type(), "application/json");
    EXPECT_EQ(h.reply_body(), "{\"status\":403,\"error\":\"access denied\"}\n");
    EXPECT_EQ(h.response_headers(403), "x-a: 403\r\n") << "c never ran, so it adds nothing";
    h.end();
    EXPECT_EQ(g_events, (std::vector<std::string>{"a:request", "deny:request", "deny:destroy", "a:destroy"}));
}

TEST_F(ChainTest, PauseThenResumeLaterRunsTheRestOfTheChain) {
    AsyncFilter wait("wait", AsyncFilter::Mode::Later);
    PassFilter after("after");
    FilterChain chain;
    chain.add(&wait);
    chain.add(&after);
    EXPECT_EQ(h.run(chain), FilterStatus::Pause);
    EXPECT_TRUE(h.paused());
    EXPECT_EQ(g_events, (std::vector<std::string>{"wait:request"}));
    EXPECT_EQ(h.resumed(), 0);
    wait.op.complete();
    EXPECT_FALSE(h.paused());
    EXPECT_EQ(h.resumed(), 1) << "the codec hears that the request goes on";
    EXPECT_EQ(h.reply_status(), 0);
    EXPECT_EQ(g_events, (std::vector<std::string>{"wait:request", "after:request"}));
    h.end();  // before the filters and the chain of this body go (the fixture outlives them)
}

TEST_F(ChainTest, PauseThenAnswerLater) {
    AsyncFilter wait("wait", AsyncFilter::Mode::Later);
    PassFilter after("after");
    FilterChain chain;
    chain.add(&wait);
    chain.add(&after);
    EXPECT_EQ(h.run(chain), FilterStatus::Pause);
    wait.op.complete(503);
    EXPECT_EQ(h.resumed(), 1);
    EXPECT_EQ(h.reply_status(), 503);
    EXPECT_EQ(g_events, (std::vector<std::string>{"wait:request"})) << "the chain stops at the answer";
    h.end();  // before the filters and the chain of this body go (the fixture outlives them)
}

TEST_F(ChainTest, ResumingInlineNeedsNoFlagInTheFilter) {
    AsyncFilter wait("wait", AsyncFilter::Mode::InlineResume);
    PassFilter after("after");
    FilterChain chain;
    chain.add(&wait);
    chain.add(&after);
    EXPECT_EQ(h.run(chain), FilterStatus::Continue) << "the driver notices the inline resume";
    EXPECT_EQ(h.resumed(), 0) << "nothing to tell the codec: it is still in the call";
    EXPECT_EQ(g_events, (std::vector<std::string>{"wait:request", "after:request"}));
    h.end();  // before the filters and the chain of this body go (the fixture outlives them)
}

TEST_F(ChainTest, AnsweringInlineFromAPausedFilter) {
    AsyncFilter wait("wait", AsyncFilter::Mode::InlineReply);
    PassFilter after("after");
    FilterChain chain;
    chain.add(&wait);
    chain.add(&after);
    EXPECT_EQ(h.run(chain), FilterStatus::Done);
    EXPECT_EQ(h.reply_status(), 503);
    EXPECT_EQ(h.resumed(), 0);
    EXPECT_EQ(g_events, (std::vector<std::string>{"wait:request"}));
    h.end();  // before the filters and the chain of this body go (the fixture outlives them)
}

TEST_F(ChainTest, DestroyedWhilePausedCancelsAndAStaleHandleDoesNothing) {
    AsyncFilter wait("wait", AsyncFilter::Mode::Later);
    PassFilter after("after");
    FilterChain chain;
    chain.add(&wait);
    chain.add(&after);
    EXPECT_EQ(h.run(chain), FilterStatus::Pause);
    ResumeHandle stale = wait.op.handle;
    h.end();  // the client went away
    EXPECT_TRUE(wait.op.cancelled);
    EXPECT_TRUE(stale.stale());
    stale.resume();
    stale.respond_error(500, "late");
    EXPECT_EQ(h.resumed(), 0) << "nothing is touched after the stream ended";
    EXPECT_EQ(h.reply_status(), 0);
    EXPECT_EQ(g_events, (std::vector<std::string>{"wait:request", "wait:destroy"}));
}

TEST_F(ChainTest, AHandleFromAnEarlierRequestOnTheSameStreamIsStale) {
    AsyncFilter wait("wait", AsyncFilter::Mode::Later);
    FilterChain chain;
    chain.add(&wait);
    EXPECT_EQ(h.run(chain), FilterStatus::Pause);
    ResumeHandle first = wait.op.handle;
    EXPECT_EQ(h.run(chain), FilterStatus::Pause);  // the stream is reused for the next request
    first.resume();
    EXPECT_EQ(h.resumed(), 0);
    EXPECT_TRUE(h.paused()) << "the second request still waits for its own answer";
    wait.op.complete();
    EXPECT_EQ(h.resumed(), 1);
    h.end();  // before the filters and the chain of this body go (the fixture outlives them)
}

TEST_F(ChainTest, TwoFiltersThatBothPause) {
    AsyncFilter one("one", AsyncFilter::Mode::Later), two("two", AsyncFilter::Mode::Later);
    PassFilter last("last");
    FilterChain chain;
    chain.add(&one);
    chain.add(&two);
    chain.add(&last);
    EXPECT_EQ(h.run(chain), FilterStatus::Pause);
    one.op.complete();
    EXPECT_EQ(h.resumed(), 0) << "the second filter waits in its turn";
    EXPECT_TRUE(h.paused());
    EXPECT_EQ(g_events, (std::vector<std::string>{"one:request", "two:request"}));
    two.op.complete();
    EXPECT_EQ(h.resumed(), 1);
    EXPECT_EQ(g_events, (std::vector<std::string>{"one:request", "two:request", "last:request"}));
    h.end();
    EXPECT_FALSE(one.op.cancelled);
    EXPECT_FALSE(two.op.cancelled);
}

TEST_F(ChainTest, TwoPausedFiltersDestroyedMidWayCancelOnlyWhatIsPending) {
    AsyncFilter one("one", AsyncFilter::Mode::Later), two("two", AsyncFilter::Mode::Later);
    FilterChain chain;
    chain.add(&one);
    chain.add(&two);
    EXPECT_EQ(h.run(chain), FilterStatus::Pause);
    one.op.complete();
    h.end();
    EXPECT_FALSE(one.op.cancelled);
    EXPECT_TRUE(two.op.cancelled);
    EXPECT_EQ(g_events, (std::vector<std::string>{"one:request", "two:request", "two:destroy", "one:destroy"}));
}

// Per-request state: each filter's slot is aligned as it asks and apart from the others'.
class SlotFilter : public gw::http::Filter {
  public:
    SlotFilter(uint16_t size, uint16_t align) : Filter(gw::http::kHookRequest, size, align) {}
    FilterStatus on_request(Stream&, void* ctx) override {
        seen = ctx;
        memset(ctx, 0xab, ctx_size());
        return FilterStatus::Continue;
    }
    void* seen = nullptr;
};

TEST_F(ChainTest, FilterStateLivesInTheStreamsArenaAlignedAndApart) {
    SlotFilter a(3, 1), b(24, 8), c(64, 16);
    FilterChain chain;
    chain.add(&a);
    chain.add(&b);
    chain.add(&c);
    EXPECT_EQ(h.run(chain), FilterStatus::Continue);
    auto at = [](void* p) { return reinterpret_cast<uintptr_t>(p); };
    EXPECT_EQ(at(b.seen) % 8, 0u);
    EXPECT_EQ(at(c.seen) % 16, 0u);
    EXPECT_GE(at(b.seen), at(a.seen) + 3);
    EXPECT_GE(at(c.seen), at(b.seen) + 24);
    SlotFilter huge(FilterChain::kArenaSize, 8);
    EXPECT_FALSE(chain.add(&huge)) << "state beyond the arena is refused when the chain is built";
    h.end();  // before the filters and the chain of this body go (the fixture outlives them)
}

TEST_F(ChainTest, ARouteWithoutFiltersPaysNothing) {
    FilterChain empty;
    EXPECT_EQ(h.run(empty), FilterStatus::Continue);
    EXPECT_EQ(h.response_headers(200), "");
    h.end();  // before the filters and the chain of this body go (the fixture outlives them)
}

// A body filter that upper-cases, added for one response from its response-head hook.
class UpperFilter : public gw::http::Filter {
  public:
    UpperFilter() : Filter(gw::http::kHookRequest | gw::http::kHookResponseHead | gw::http::kHookBody) {}
    FilterStatus on_request(Stream&, void*) override { return FilterStatus::Continue; }
    void on_response_head(Stream& s, void*, gw::http::ResponseHead& head) override {
        if (head.status() == 200) s.add_body_filter(this);
    }
    void on_body(Stream&, void*, std::string_view in, bool last, std::string& out) override {
        for (char ch : in) out += static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
        if (last) out += "!";
    }
};

TEST_F(ChainTest, BodyFiltersAreOptInPerResponse) {
    UpperFilter up;
    FilterChain chain;
    chain.add(&up);
    EXPECT_EQ(h.run(chain), FilterStatus::Continue);
    h.response_headers(404);
    EXPECT_FALSE(h.stream().has_body_filters()) << "not for this response";
    h.response_headers(200);
    ASSERT_TRUE(h.stream().has_body_filters());
    std::string out;
    h.stream().filter_body("hello ", false, out);
    EXPECT_EQ(out, "HELLO ");
    h.stream().filter_body("world", true, out);
    EXPECT_EQ(out, "WORLD!");
    h.end();
    EXPECT_EQ(h.run(chain), FilterStatus::Continue);
    EXPECT_FALSE(h.stream().has_body_filters()) << "the next request starts without";
}

}  // namespace

namespace {

// Waits for input (Stream::set_input_listener), then answers with fields of its own
// (Stream::reply_with_headers + ResumeHandle::answer), as a replayed response is answered.
class WaitInputFilter : public gw::http::Filter {
  public:
    WaitInputFilter() : Filter(gw::http::kHookRequest) {}
    FilterStatus on_request(Stream& s, void*) override {
        stream = &s;
        handle = s.pause_handle();
        s.set_input_listener([](void* self) { static_cast<WaitInputFilter*>(self)->on_input(); }, this);
        return FilterStatus::Pause;
    }
    void on_input() {
        ++inputs;
        if (stream->io().body_size() < 5) return;  // not all there yet
        stream->set_input_listener(nullptr, nullptr);
        stream->reply_with_headers(201, "content-type: text/plain\r\nx-stored: 1\r\n", "saved");
        handle.answer();
    }
    Stream* stream = nullptr;
    ResumeHandle handle;
    int inputs = 0;
};

}  // namespace

TEST_F(ChainTest, APausedFilterHearsInputAndAnswersWithItsOwnFields) {
    WaitInputFilter wait;
    FilterChain chain;
    chain.add(&wait);
    EXPECT_EQ(h.run(chain), FilterStatus::Pause);
    h.io().body = "abc";
    h.stream().input_arrived();  // as the codec does after each read while paused
    EXPECT_EQ(wait.inputs, 1);
    EXPECT_EQ(h.resumed(), 0) << "still waiting";
    h.io().body = "abcde";
    h.stream().input_arrived();
    EXPECT_EQ(h.resumed(), 1);
    EXPECT_EQ(h.reply_status(), 201);
    EXPECT_EQ(h.reply_body(), "saved");
    EXPECT_EQ(h.reply_content_type(), "") << "the type is among the fields";
    EXPECT_EQ(h.stream().reply_header_lines(), "content-type: text/plain\r\nx-stored: 1\r\n");
    h.stream().input_arrived();
    EXPECT_EQ(wait.inputs, 2) << "the listener was removed";
    h.end();
    EXPECT_EQ(h.stream().reply_header_lines(), "") << "cleared when the stream ends";
    // reply() and reply_error() drop fields a reply_with_headers() set.
    h.stream().reply_with_headers(200, "x: 1\r\n", "");
    h.stream().reply_error(503, "no");
    EXPECT_EQ(h.stream().reply_header_lines(), "");
}
