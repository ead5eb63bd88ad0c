#!/usr/bin/perl
# The shipped Grafana dashboard and Prometheus rules (issue 18, "Dashboards and alerts"):
#   1. `promtool check rules contrib/prometheus/gatewayd-rules.yml` and `promtool test rules
#      contrib/prometheus/gatewayd-rules.test.yml` pass (skipped only without /usr/bin/promtool,
#      Debian's prometheus package);
#   2. the rules file's shape: every alert has a severity label and summary and description
#      annotations, and promtool's unit tests cover every alert; every recording-rule name an
#      expression uses is recorded in the file;
#   3. contrib/grafana/gatewayd.json is valid JSON (JSON::PP) shaped as a Grafana 9/10 dashboard:
#      schemaVersion, a DS_PROMETHEUS input and datasource variable that every panel and query
#      uses, the instance/route/upstream variables from label_values(), unique panel ids, panels
#      on the 24-column grid without overlaps, in rows, each with queries; the rows and the
#      metrics the dashboard is for are there;
#   4. every metric name in the dashboard's queries (and its variables and annotations) and in the
#      rules' expressions is exported by a live gatewayd: one started with what the dashboard
#      covers (routes, an upstream with health checks and a breaker, a dead one behind a queue,
#      retries, rate limits local and on Redis, cache, compression, access rules, API keys and a
#      JWKS provider, admin_auth, idempotency, a TLS listener with a test certificate (OCSP fetch
#      from a dead responder), HTTP/2, a grpc route; tracing when the binary has the module), with
#      traffic that makes the families created on first use appear (a retry, a gRPC response, an
#      HTTP/2 rapid-reset flood).
#      A histogram's _bucket/_sum/_count are its family; recording-rule names (with a colon) and
#      Prometheus's own `up` are not gatewayd's. Fails with the list of unknown names. It also
#      lists the families /metrics exports that the dashboard does not show;
#   5. promtool evaluates every panel query and recording rule over that scrape (held as a series
#      of job gatewayd): each must have a result (a misspelt label matcher has none).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Cwd qw(realpath);
use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;

my $top = realpath("$FindBin::Bin/..");
my $DASHBOARD = "$top/contrib/grafana/gatewayd.json";
my $RULES = "$top/contrib/prometheus/gatewayd-rules.yml";
my $RULE_TESTS = "$top/contrib/prometheus/gatewayd-rules.test.yml";
my $PROMTOOL = '/usr/bin/promtool';

# Names in expressions that gatewayd does not export: Prometheus's own series.
my %PROMETHEUS_OWN = (up => 1);
# The row whose metrics come from the tracing module (checked when the binary has it).
my $TRACING_ROW = 'Tracing';

# ---------------------------------------------------------------------------------------------
# PromQL: the metric names an expression selects.

my %KEYWORDS = map { $_ => 1 } qw(and or unless by without on ignoring group_left group_right bool offset
                                  inf nan Inf NaN);

sub metric_names {
    my ($expr) = @_;
    my $e = $expr;
    $e =~ s/"(?:[^"\\]|\\.)*"//g;                   # string literals (label values, label_replace args)
    $e =~ s/'(?:[^'\\]|\\.)*'//g;
    $e =~ s/`[^`]*`//g;
    $e =~ s/\{[^{}]*\}//g;                          # label matchers ($instance and the like)
    $e =~ s/\[[^\[\]]*\]//g;                        # ranges and subqueries ($__rate_interval)
    $e =~ s/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)//g;   # label lists
    $e =~ s/\boffset\s+-?\w+//g;
    $e =~ s/(?<![\w:.])\d+(?:\.\d*)?(?:[eE][-+]?\d+)?(?![\w:])//g;                # numbers
    $e =~ s/(?<![\w:.])\.\d+(?:[eE][-+]?\d+)?//g;
    my %names;
    while ($e =~ /([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g) {
        my ($id, $call) = ($1, $2);
        next if $call || $KEYWORDS{$id};            # functions and aggregations; keywords
        $names{$id} = 1;
    }
    return sort keys %names;
}

# Grafana's label_values(METRIC{...}, label): the metric (label_values(label) has none).
sub variable_metric_names {
    my ($query) = @_;
    return () unless $query =~ /^\s*label_values\s*\((.*),\s*\w+\s*\)\s*$/s;
    return metric_names($1);
}

# Self-check of the extraction on a few shapes the files use.
is_deeply([metric_names('histogram_quantile(0.99, sum by (route, le) (rate(gateway_overhead_seconds_bucket{instance=~"$instance", le="0.005"}[$__rate_interval])))')],
          ['gateway_overhead_seconds_bucket'], 'metric_names: histogram_quantile over a bucket rate');
is_deeply([metric_names('sum by (class) (label_replace(rate(gateway_http_requests_total{code=~"5.."}[5m]), "class", "${1}xx", "code", "([1-5]).*")) / 1e3 or vector(0)')],
          ['gateway_http_requests_total'], 'metric_names: label_replace strings, numbers, vector()');
is_deeply([metric_names("a:b:rate5m > (14.4 * 0.001)\nand on (job) up{job=\"x\"} == 0 unless absent(gateway_x_total)")],
          ['a:b:rate5m', 'gateway_x_total', 'up'], 'metric_names: recorded names, on (...), absent()');

# ---------------------------------------------------------------------------------------------
# 1. promtool

subtest 'promtool check rules and test rules' => sub {
    plan skip_all => "$PROMTOOL is missing (Debian's prometheus package; auto/install-deps test installs it)"
        unless -x $PROMTOOL;
    my $out = `'$PROMTOOL' check rules '$RULES' 2>&1`;
    is($? >> 8, 0, 'promtool check rules gatewayd-rules.yml') or diag($out);
    like($out, qr/SUCCESS: \d+ rules found/, '... SUCCESS');
    $out = `'$PROMTOOL' test rules '$RULE_TESTS' 2>&1`;
    is($? >> 8, 0, 'promtool test rules gatewayd-rules.test.yml') or diag($out);
    like($out, qr/SUCCESS/, '... SUCCESS');
};

# ---------------------------------------------------------------------------------------------
# 2. the rules file (its own simple YAML layout: one rule per "- alert:" / "- record:" item)

# Rules: [{kind => alert|record, name, expr, labels => text, annotations => text}], line-based.
sub parse_rules {
    my ($text) = @_;
    my @rules;
    my @lines = split /\n/, $text;
    for (my $i = 0; $i < @lines; $i++) {
        my $l = $lines[$i];
        if ($l =~ /^(\s*)- (alert|record): (\S+)\s*$/) {
            push @rules, { kind => $2, name => $3, indent => length($1) + 2, expr => '', labels => '', annotations => '' };
            next;
        }
        next unless @rules;
        my $r = $rules[-1];
        next unless $l =~ /^(\s*)(\w+):\s*(.*)$/ && length($1) == $r->{indent};
        my ($key, $value) = ($2, $3);
        my $body = $value;
        if ($value =~ /^[|>]-?$/ || $value eq '') {    # a block: the lines indented further
            $body = '';
            while ($i + 1 < @lines && ($lines[$i + 1] =~ /^\s*$/ || $lines[$i + 1] =~ /^(\s*)/ && length($1) > $r->{indent})) {
                $body .= $lines[++$i] . "\n";
            }
        }
        $r->{$key} = $body if $key =~ /^(expr|labels|annotations|for)$/;
    }
    return @rules;
}

my $rules_text = slurp($RULES) // BAIL_OUT("$RULES is missing");
my @rules = parse_rules($rules_text);
my @alerts = grep { $_->{kind} eq 'alert' } @rules;
my %recorded = map { $_->{name} => 1 } grep { $_->{kind} eq 'record' } @rules;
my @rule_exprs = map { [$_->{name}, $_->{expr}] } @rules;

subtest 'rules: alerts, labels, annotations' => sub {
    cmp_ok(scalar @alerts, '>=', 14, scalar(@alerts) . ' alerts');
    cmp_ok(scalar keys %recorded, '>=', 20, scalar(keys %recorded) . ' recording rules');
    my $tests = slurp($RULE_TESTS) // '';
    for my $a (@alerts) {
        like($a->{labels}, qr/\bseverity:\s*(critical|warning|info)\b/, "$a->{name}: a severity label");
        like($a->{annotations}, qr/^\s*summary:\s*\S/m, "$a->{name}: a summary annotation");
        like($a->{annotations}, qr/^\s*description:\s*\S/m, "$a->{name}: a description annotation");
        like($tests, qr/^\s*alertname:\s*\Q$a->{name}\E\s*$/m, "$a->{name}: promtool unit tests cover it");
    }
    my %burn = map { $_->{name} => $_ } grep { $_->{name} =~ /BurnRate/ } @alerts;
    for my $slo (qw(Availability Overhead)) {
        for ([qw(1h 5m 14.4 critical)], [qw(6h 30m 6 critical)], [qw(1d 2h 3 warning)], [qw(3d 6h 1 warning)]) {
            my ($long, $short, $rate, $severity) = @$_;
            my $a = $burn{"Gatewayd${slo}BurnRate$long"};
            ok($a, "$slo: a $long/$short burn-rate alert") or next;
            like($a->{expr}, qr/_rate\Q$long\E > \(\Q$rate\E \* [\d.]+\)/, "$slo $long: long window at ${rate}x");
            like($a->{expr}, qr/_rate\Q$short\E > \(\Q$rate\E \* [\d.]+\)/, "$slo $long: short window $short at ${rate}x");
            like($a->{labels}, qr/severity: \Q$severity\E/, "$slo $long: severity $severity");
        }
    }
    like($rules_text, qr/gateway_overhead_seconds_bucket\{le="0\.005"\}/, 'the overhead SLI reads the le="0.005" bucket');
    for my $r (@rule_exprs) {
        my @undefined = grep { /:/ && !$recorded{$_} } metric_names($r->[1]);
        is("@undefined", '', "$r->[0]: the recorded names it uses are recorded here");
    }
};

# ---------------------------------------------------------------------------------------------
# 3. the dashboard's structure

my $dash = eval { JSON::PP->new->decode(slurp($DASHBOARD) // die "$DASHBOARD is missing\n") };
ok($dash, 'gatewayd.json is valid JSON') or BAIL_OUT("gatewayd.json: $@");

my $DS = '${DS_PROMETHEUS}';
my (@panels, %row_of);    # every panel but rows, and its row's title
for my $p (@{ $dash->{panels} || [] }) {
    if (($p->{type} // '') eq 'row') {
        for my $c (@{ $p->{panels} || [] }) { push @panels, $c; $row_of{ 0 + $c } = $p->{title} }
        next;
    }
    push @panels, $p;
}
# Top-level panels belong to the row above them.
{
    my $row;
    for my $p (@{ $dash->{panels} || [] }) {
        if (($p->{type} // '') eq 'row') { $row = $p->{title}; next }
        $row_of{ 0 + $p } = $row;
    }
}

# [where, expr] of every query: panels' targets, annotations; variables separately.
my (@queries, @variable_queries);
for my $p (@panels) {
    for my $t (@{ $p->{targets} || [] }) {
        push @queries, ["panel \"$p->{title}\" $t->{refId}", $t->{expr} // '', $row_of{ 0 + $p } // ''];
    }
}
for my $a (@{ $dash->{annotations}{list} || [] }) {
    push @queries, ["annotation \"$a->{name}\"", $a->{expr}, ''] if defined $a->{expr};
}

subtest 'dashboard: structure' => sub {
    is($dash->{title}, 'gatewayd', 'title');
    like($dash->{uid} // '', qr/^[\w-]{1,40}$/, 'a uid of at most 40 characters');
    ok(($dash->{schemaVersion} // 0) >= 36 && $dash->{schemaVersion} <= 39,
       "schemaVersion $dash->{schemaVersion} (Grafana 9.x/10.x)");
    my ($input) = grep { $_->{name} eq 'DS_PROMETHEUS' } @{ $dash->{__inputs} || [] };
    ok($input && $input->{type} eq 'datasource' && $input->{pluginId} eq 'prometheus',
       '__inputs: DS_PROMETHEUS, a prometheus datasource (for Import)');
    my %var = map { $_->{name} => $_ } @{ $dash->{templating}{list} || [] };
    ok($var{DS_PROMETHEUS} && $var{DS_PROMETHEUS}{type} eq 'datasource' && $var{DS_PROMETHEUS}{query} eq 'prometheus',
       'a datasource variable DS_PROMETHEUS (for provisioning)');
    for my $v (qw(instance route upstream)) {
        my $q = $var{$v} or do { fail("variable $v"); next };
        my $query = ref $q->{query} ? $q->{query}{query} : $q->{query};
        is($q->{type}, 'query', "variable $v: a query variable");
        like($query // '', qr/^label_values\(gateway_\w+(\{[^}]*\})?, \Q$v\E\)$/, "variable $v: label_values(..., $v)");
        is($q->{datasource}{uid}, $DS, "variable $v: on \${DS_PROMETHEUS}");
        ok($q->{includeAll} && $q->{multi} && ($q->{allValue} // '') eq '.*', "variable $v: multi, All = .*");
        push @variable_queries, ["variable $v", $query];
    }

    cmp_ok(scalar @panels, '>=', 40, scalar(@panels) . ' panels');
    my %ids;
    $ids{ $_->{id} }++ for @panels, grep { $_->{type} eq 'row' } @{ $dash->{panels} };
    is(join(',', grep { $ids{$_} > 1 } sort keys %ids), '', 'panel ids are unique');
    my (@bad_ds, @no_targets, @bad_targets, @bad_grid, @no_row);
    for my $p (@panels) {
        push @bad_ds, $p->{title} unless ($p->{datasource}{uid} // '') eq $DS && ($p->{datasource}{type} // '') eq 'prometheus';
        push @no_targets, $p->{title} unless @{ $p->{targets} || [] };
        my %ref;
        for my $t (@{ $p->{targets} || [] }) {
            push @bad_targets, "$p->{title}: " . ($t->{refId} // '?')
                unless ($t->{expr} // '') =~ /\S/ && $t->{refId} && !$ref{ $t->{refId} }++
                    && ($t->{datasource}{uid} // '') eq $DS;
        }
        my $g = $p->{gridPos} || {};
        push @bad_grid, $p->{title}
            unless defined $g->{x} && defined $g->{y} && $g->{w} && $g->{h} && $g->{x} >= 0 && $g->{x} + $g->{w} <= 24;
        push @no_row, $p->{title} unless defined $row_of{ 0 + $p };
        like($p->{type}, qr/^(timeseries|stat|gauge|bargauge|table|state-timeline|heatmap|text)$/, "$p->{title}: a panel type of Grafana 9/10 ($p->{type})")
            if $p->{type} !~ /^(timeseries|stat|table|state-timeline|heatmap)$/;
    }
    is("@bad_ds", '', 'every panel queries ${DS_PROMETHEUS}');
    is("@no_targets", '', 'every panel has queries');
    is(join('; ', @bad_targets), '', 'every query has an expr, a unique refId and the datasource');
    is("@bad_grid", '', 'every panel is on the 24-column grid');
    is("@no_row", '', 'every panel is in a row');
    # no two panels of the expanded dashboard overlap (a collapsed row's panels are laid out apart)
    my @laid = grep { ($row_of{ 0 + $_ } // '') ne $TRACING_ROW } @panels;
    my @overlaps;
    for my $i (0 .. $#laid) {
        for my $j ($i + 1 .. $#laid) {
            my ($a, $b) = ($laid[$i]{gridPos}, $laid[$j]{gridPos});
            push @overlaps, "$laid[$i]{title} / $laid[$j]{title}"
                if $a->{x} < $b->{x} + $b->{w} && $b->{x} < $a->{x} + $a->{w} && $a->{y} < $b->{y} + $b->{h} && $b->{y} < $a->{y} + $a->{h};
        }
    }
    is(join('; ', @overlaps), '', 'no panels overlap');

    my %rows = map { $_->{title} => $_ } grep { $_->{type} eq 'row' } @{ $dash->{panels} };
    for my $r ('Overview', 'Traffic', 'Errors', 'Latency', 'Upstreams', 'Circuit breakers', 'Rate limits',
               'Process: connections, reloads, generations', 'TLS', 'Cache', 'Compression', 'HTTP/2 and gRPC',
               'Auth and idempotency', $TRACING_ROW) {
        ok($rows{$r}, "row \"$r\"");
    }
    ok($rows{$TRACING_ROW} && $rows{$TRACING_ROW}{collapsed}, 'the tracing row is collapsed (its panels in the row)');

    # what the dashboard is for
    my $all = join "\n", map { $_->[1] } @queries;
    for my $h (qw(gateway_http_request_duration_seconds gateway_overhead_seconds gateway_upstream_response_seconds)) {
        like($all, qr/histogram_quantile\(0\.99, sum by \([^)]*\ble\b[^)]*\) \(rate\(\Q${h}\E_bucket\{/, "p99 from $h\'s buckets");
    }
    for my $m (qw(gateway_http_requests_total gateway_upstream_server_up gateway_circuit_state gateway_circuit_transitions_total
                  gateway_ratelimit_decisions_total gateway_connections_active gateway_config_reloads_total gateway_config_generation
                  gateway_binary_upgrades_total gateway_worker_restarts_total gateway_tls_handshakes_total
                  gateway_tls_handshake_errors_total gateway_tls_resumed_total gateway_tls_certificate_expiry_timestamp_seconds gateway_tls_ocsp_fetches_total
                  gateway_cache_requests_total gateway_compress_responses_total gateway_http2_floods_total
                  gateway_grpc_responses_total gateway_auth_requests_total gateway_tracing_spans_total gateway_tracing_exports_total)) {
        like($all, qr/\b\Q$m\E\b/, "the dashboard shows $m");
    }
    like($all, qr/code=~"5\.\."/, 'a 5xx ratio');
};

# ---------------------------------------------------------------------------------------------
# 4. every metric name exists in a live /metrics

my @modules = qw(tls cache compress auth ratelimit breaker health grpc access admin_auth idempotency);
my @no_module = grep { !has_modules($_) } @modules;
my $tracing = has_modules('tracing');

SKIP: {
    skip "the live check needs a gatewayd with every module (built without: @no_module)", 1 if @no_module;
    skip 'the live check needs the openssl command (the test certificate)', 1
        unless system('openssl version >/dev/null 2>&1') == 0;
    require TestCerts;
    require H2Client;
    require RedisServer;

    my $t = GatewayTest->new;
    my $dir = $t->dir;
    my $certs = TestCerts->new($dir);
    $certs->ca('ca');
    $certs->cert('srv', ca => 'ca', cn => 'localhost', san => 'DNS:localhost,IP:127.0.0.1');
    # the chain (for an OCSP request the issuer is needed); its responder is an address nothing
    # listens on: gateway_tls_ocsp_fetches_total counts the master's failed fetches
    spew("$dir/chain.pem", slurp("$dir/srv.pem") . slurp("$dir/ca.pem"));
    my $api_key = 'key-' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 24);
    spew("$dir/api-keys.yaml", "partner-one:\n  - \"sha256:" . sha256_hex($api_key) . "\"\n");
    my $token = join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 40;
    spew("$dir/admin.token", "$token\n");

    my $a = Backend->new(name => 'a')->start;
    my $b = Backend->new(name => 'b')->start;
    $t->set_port('be_a', $a->port);
    $t->set_port('be_b', $b->port);
    $t->set_port('dead', Backend::dead_port());
    # Families made on an event this set-up cannot cause here: excused, with a note.
    my %excused;
    my $redis_conf = '';
    if (RedisServer->available) {
        my $redis = RedisServer->new->start;
        $t->set_port('redis', $redis->port);
        $redis_conf = "redis: {address: 127.0.0.1:%%redis%%, timeout: 500ms}\n";
    } else {
        $excused{gateway_redis_up} = 'redis-server is not installed (gateway_redis_up exists with redis: configured)';
    }
    my $h2_missing = H2Client::missing('python3-h2');
    $excused{gateway_http2_floods_total} = "no flood to count: $h2_missing" if $h2_missing;
    my $tracing_conf = $tracing ? <<'EOF' : '';
tracing:
  otlp: {endpoint: "http://127.0.0.1:%%dead%%/v1/traces", timeout: 1s, batch: 16, flush: 100ms}
  sample: 1.0
  service_name: gatewayd
EOF
    my $conf = <<'EOF' . $redis_conf . $tracing_conf . <<'EOF';
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
metrics: {per_consumer: true}
http2: {max_resets_per_minute: 50}
admin_auth: {token_file: admin.token, protect_health: false}
EOF
listeners:
  - {address: 127.0.0.1:%%http%%, http2: true}
  - address: 127.0.0.1:%%https%%
    http2: true
    tls:
      certificates:
        - {cert: chain.pem, key: srv.key, ocsp_staple: {fetch: true, responder: "http://127.0.0.1:%%dead%%/"}}
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  app:
    servers: [{address: 127.0.0.1:%%be_a%%}, {address: 127.0.0.1:%%be_b%%}]
    health_check: {path: /id, interval: 200ms, timeout: 150ms, fall: 2, rise: 2}
    circuit_breaker: {consecutive_failures: 3, open_for: 1m}
  retry:
    servers: [{address: 127.0.0.1:%%dead%%}, {address: 127.0.0.1:%%be_a%%}]
  dead:
    servers: [{address: 127.0.0.1:%%dead%%, max_conns: 1}]
    queue: {size: 2, timeout: 1s}
    max_fails: 0
    circuit_breaker: {consecutive_failures: 2, open_for: 1m}
cache:
  zones:
    main: {size: 8m, max_object: 1m}
compress:
  default: {algorithms: [gzip], min_length: 0, types: [text/*, application/json]}
auth:
  jwt:
    idp: {jwks: {url: "http://127.0.0.1:%%be_a%%/jwks.json", refresh: 1h}, algorithms: [RS256]}
  api_keys:
    partners: {from: [header:x-api-key], keys_file: api-keys.yaml}
rate_limits:
  tight: {key: global, rate: 2/h, burst: 2, algorithm: token_bucket}
idempotency:
  local: {required: true, lease: 1h}
routes:
  - {name: api, match: {path_prefix: /api/}, upstream: app, strip_prefix: /api}
  - {name: cached, match: {path_prefix: /cached/}, upstream: app, strip_prefix: /cached, cache: {zone: main, default_ttl: 60s}}
  - {name: limited, match: {path_prefix: /limited/}, rate_limit: tight, return: {body: "ok"}}
  - {name: private, match: {path_prefix: /private/}, auth: [partners], upstream: app, strip_prefix: /private}
  - {name: jwt, match: {path_prefix: /jwt/}, auth: [idp], return: {body: "ok"}}
  - {name: denied, match: {path_prefix: /denied/}, access: {deny: 127.0.0.1}, return: {body: "no"}}
  - {name: pay, match: {path_prefix: /pay/}, upstream: app, strip_prefix: /pay, idempotency: local}
  - name: retried
    match: {path_prefix: /retried/}
    upstream: retry
    strip_prefix: /retried
    retries: {attempts: 2, on: [connect_failure]}
  - {name: grpc, match: {path_prefix: /grpc.}, upstream: dead, grpc: true}
  - {name: down, match: {path_prefix: /down/}, upstream: dead, strip_prefix: /down}
EOF
    if ($redis_conf) {    # a policy on Redis: gateway_redis_up
        $conf =~ s/^(rate_limits:\n)/$1  shared: {key: ip, scope: global, rate: 1000\/m, algorithm: fixed_window}\n/m;
        $conf =~ s/(name: api, match: \{path_prefix: \/api\/\}, upstream: app)/$1, rate_limit: shared/;
    }
    $t->write_conf($conf);
    $t->start;
    my $port = $t->port('http');
    my %auth = (Authorization => "Bearer $token");

    # --- traffic -------------------------------------------------------------------------------
    my %status;
    my $get = sub { my ($path, %h) = @_; my $r = http_get($port, $path, \%h, timeout => 10); $status{$path} = $r ? $r->{status} : 0; $r };
    $get->($_) for qw(/api/id /api/id /api/status/503 /api/status/404 /cached/id /cached/id /private/id /jwt/x /denied/x);
    $get->('/api/echo', 'Accept-Encoding' => 'gzip');
    $get->('/private/id', 'X-Api-Key' => $api_key);
    $get->('/limited/x') for 1 .. 4;
    $get->('/down/id') for 1 .. 3;
    is($status{'/limited/x'}, 429, 'the rate limit rejects (429)');
    is($status{'/denied/x'}, 403, 'the access rule denies (403)');
    is($status{'/private/id'}, 200, 'the API key is accepted');
    my $pay = http_request($port, "POST /pay/echo HTTP/1.1\r\nHost: t\r\nIdempotency-Key: k-1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    ok($pay, 'an idempotent POST is answered (' . ($pay ? $pay->{status} : 'none') . ')');
    # gRPC over HTTP/1.1 to a dead upstream: UNAVAILABLE (14) in gateway_grpc_responses_total
    my $grpc = http_request($port, "POST /grpc.Test/Call HTTP/1.1\r\nHost: t\r\nContent-Type: application/grpc\r\nTE: trailers\r\n"
                                 . "Content-Length: 5\r\nConnection: close\r\n\r\n\0\0\0\0\0");
    is($grpc && $grpc->{headers}{'grpc-status'}, 14, 'a gRPC call to a dead upstream: grpc-status 14');
    # a retry: the first server of `retry` refuses connections (round robin: within a few requests)
    ok(wait_until(sub { $get->('/retried/id');
                        my $m = $t->metrics_auth(\%auth); $m && metric_sum($m, 'gateway_upstream_retries_total', {}) }, 10, 0.05),
       'a request retried on the other server');
    # a TLS handshake
    my $https = $t->port('https');
    my $s = `echo | timeout 10 openssl s_client -connect 127.0.0.1:$https -servername localhost 2>&1`;
    like($s, qr/Protocol\s*:\s*TLSv1\.[23]|New, TLSv1\.[23]/, 'a TLS handshake on the TLS listener');
    # an HTTP/2 rapid-reset flood
    unless ($h2_missing) {
        my $f = H2Client::h2_raw(port => $port, timeout => 10, path => '/limited/x', mode => 'rapid_reset', n => 100);
        is($f->{goaway}, 11, 'a rapid-reset flood gets GOAWAY(ENHANCE_YOUR_CALM)') or diag($f->{line});
    }
    # the admin listener refuses a request without the token
    is((http_get($t->port('admin'), '/metrics') // {})->{status}, 401, 'admin_auth refuses /metrics without the token');

    # --- names ---------------------------------------------------------------------------------
    my (%used, %where);    # name -> where it is used
    my $use = sub { my ($where, $expr, $row) = @_;
                    for my $n (metric_names($expr)) { $used{$n} //= $row // ''; push @{ $where{$n} }, $where } };
    $use->(@$_) for @queries;
    $use->("rule $_->[0]", $_->[1], '') for @rule_exprs;
    for my $v (@variable_queries) {
        for my $n (variable_metric_names($v->[1])) { $used{$n} //= ''; push @{ $where{$n} }, $v->[0] }
    }
    my @names = sort grep { !/:/ && !$PROMETHEUS_OWN{$_} } keys %used;
    my @checked = grep { $tracing || $used{$_} ne $TRACING_ROW } @names;
    note("not checked (the binary has no tracing module): " . join(' ', grep { !$tracing && $used{$_} eq $TRACING_ROW } @names))
        unless $tracing;
    cmp_ok(scalar @checked, '>=', 40, scalar(@checked) . ' metric names to check');

    my ($m, @unknown);
    my $known = sub {
        my ($n) = @_;
        return 1 if $m->{types}{$n} && $m->{types}{$n} ne 'histogram';
        return 1 if $n =~ /^(.+)_(?:bucket|sum|count)$/ && ($m->{types}{$1} // '') eq 'histogram';
        return 0;
    };
    # Some families appear a moment after their event (the health checks, a flood's worker, an
    # export): poll until they are all there, for a few seconds.
    wait_until(sub {
        $m = $t->metrics_auth(\%auth) or return 0;
        @unknown = grep { !$known->($_) && !$excused{$_} } @checked;
        return !@unknown;
    }, 10, 0.2);
    ok($m && @{ $m->{samples} } > 100, '/metrics answers (' . ($m ? scalar @{ $m->{samples} } : 0) . ' samples)');
    is(join(' ', @unknown), '', 'every metric name of the dashboard and the rules is in /metrics')
        or diag(join "\n", 'unknown names and where they are used:', map { "  $_: " . join(', ', @{ $where{$_} }) } @unknown);
    for my $n (sort keys %excused) {
        note("$n not checked: $excused{$n}") if $used{$n} && !$known->($n);
    }
    # every family has HELP and TYPE
    my @no_help = grep { !defined $m->{help}{$_} } sort keys %{ $m->{types} };
    is("@no_help", '', 'every family has a HELP line');
    # What /metrics has that the dashboard does not show (informational; the rules need not).
    my %shown;
    for my $n (keys %used) {
        my $f = $n;
        $f =~ s/_(?:bucket|sum|count)$// unless $m->{types}{$n};
        $shown{$f} = 1;
    }
    my @not_shown = grep { !$shown{$_} } sort keys %{ $m->{types} };
    note('families of /metrics the dashboard does not show: ' . (@not_shown ? "@not_shown" : 'none'));

    # --- the queries on this scrape ----------------------------------------------------------
    # promtool evaluates every panel query (Grafana's variables as "All": .*, the intervals 5m and
    # 1m) and every recording rule over this scrape, held for 10 minutes as job gatewayd, and
    # wants a result from each: a misspelt label matcher or an expression Prometheus refuses
    # fails here. (Counters do not move in a held scrape: rates are 0 and ratios NaN, which are
    # results too.) Skipped: the annotation (changes() > 0 is empty by design) and the excused
    # and the tracing names as above.
  SKIP: {
        skip "$PROMTOOL is missing", 1 unless -x $PROMTOOL;
        my @series;
        for my $s (@{ $m->{samples} }) {
            my %l = (%{ $s->{labels} }, job => 'gatewayd', instance => 'gw1:9901');
            my $sel = $s->{name} . '{' . join(',', map { my $v = $l{$_}; $v =~ s/(["\\])/\\$1/g; "$_=\"$v\"" } sort keys %l) . '}';
            my $v = $s->{value} == 9**9**9 ? 'Inf' : $s->{value};
            push @series, "      - series: " . yaml_quote($sel) . "\n        values: '$v+0x20'\n";
        }
        my (@exprs, %what);
        for my $q (@queries) {
            my ($where, $expr, $row) = @$q;
            next if $where =~ /^annotation/;
            next if !$tracing && $row eq $TRACING_ROW;
            next if grep { $excused{$_} } metric_names($expr);
            (my $e = $expr) =~ s/\$__rate_interval\b/5m/g;
            $e =~ s/\$__interval\b/1m/g;
            $e =~ s/\$(?:instance|route|upstream)\b/.*/g;
            push @exprs, $e;
            push @{ $what{$e} }, $where;
        }
        for my $r (sort keys %recorded) {
            next if grep { $excused{$_} } metric_names(join ' ', map { $_->[1] } grep { $_->[0] eq $r } @rule_exprs);
            push @exprs, $r;
            push @{ $what{$r} }, "recording rule $r";
        }
        my %seen;
        @exprs = grep { !$seen{$_}++ } @exprs;
        my $yml = "rule_files: [" . yaml_quote($RULES) . "]\nevaluation_interval: 30s\ntests:\n  - interval: 30s\n    input_series:\n"
                . join('', @series) . "    promql_expr_test:\n"
                . join('', map { "      - expr: " . yaml_quote("absent($_)") . "\n        eval_time: 10m\n        exp_samples: []\n" } @exprs);
        my $file = "$dir/queries.test.yml";
        spew($file, $yml);
        my $out = `'$PROMTOOL' test rules '$file' 2>&1`;
        my @empty;
        while ($out =~ /^\s*expr: "absent\((.*)\)", time:/mg) {
            (my $e = $1) =~ s/\\(["\\])/$1/g;
            push @empty, map { "$_: $e" } @{ $what{$e} || ["?"] };
        }
        ok($? == 0 && $out =~ /SUCCESS/, scalar(@exprs) . ' panel queries and recording rules have results on this scrape')
            or diag(@empty ? join("\n", 'without a result:', @empty) : $out);
    }
    $t->stop;
}

sub yaml_quote { my ($s) = @_; $s =~ s/(["\\])/\\$1/g; return "\"$s\"" }

done_testing;

# GatewayTest's metrics() with the admin token.
sub GatewayTest::metrics_auth {
    my ($self, $headers) = @_;
    my $r = $self->admin_get('/metrics', $headers) or return undef;
    return undef unless $r->{status} == 200;
    return parse_metrics($r->{body});
}
