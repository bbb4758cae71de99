import assert from 'node:assert/strict';
import { upstreamError } from '../../api/edge/sidecar-link.ts';
import { Backoff } from '../../shared/backoff.ts';
import { remoteError } from '../../shared/client/request.ts';
import { GroupcastError, UnreachableError } from '../../shared/errors.ts';
import { EDGE_OPTIONS, resolveEdgeOptions } from '../../shared/options/edge.ts';
import { PromText } from '../../shared/prometheus.ts';

Deno.test('upstream backoff doubles from its minimum and never passes its maximum', () => {
  const top = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.5 }, () => 0);
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6].map(() => top.next()),
    [100, 200, 400, 800, 1000, 1000, 1000],
  );
  const random = new Backoff({ initialMs: 250, maxMs: 10_000, jitter: 0.5 });
  for (let a = 0; a < 300; a++) {
    const d = random.next();
    assert.ok(d >= 125 && d <= 10_000, `attempt ${a}: ${d}`);
  }
});

Deno.test("a sidecar's error code is passed on; its auth refusals and failures are UPSTREAM_UNAVAILABLE", async () => {
  const origin = 'http://10.0.0.7:7480';
  // Through the client library's own reading of an answer, as the edge gets it.
  const answer = async (status: number, body: unknown) =>
    upstreamError(
      await remoteError(
        new Response(typeof body === 'string' ? body : JSON.stringify(body), { status }),
      ),
      origin,
    );
  const body = (code: string) => ({ error: { code, message: 'm' } });
  assert.equal((await answer(400, body('INVALID_GROUP_ID'))).code, 'INVALID_GROUP_ID');
  assert.equal((await answer(413, body('MESSAGE_TOO_LARGE'))).code, 'MESSAGE_TOO_LARGE');
  assert.equal((await answer(503, body('GROUP_FULL'))).code, 'GROUP_FULL');
  assert.equal((await answer(400, body('UNFRAMEABLE'))).message, 'm');
  const refused = await answer(401, body('BAD_REQUEST'));
  assert.equal(refused.code, 'UPSTREAM_UNAVAILABLE');
  assert.match(refused.message, /401 BAD_REQUEST/);
  assert.equal(
    (await answer(403, { error: { code: 'SOMETHING_NEW' } })).code,
    'UPSTREAM_UNAVAILABLE',
  );
  assert.equal((await answer(400, body('SOMETHING_NEW'))).code, 'UPSTREAM_UNAVAILABLE');
  assert.equal((await answer(500, body('INTERNAL'))).code, 'UPSTREAM_UNAVAILABLE');
  assert.equal((await answer(502, '<html>bad gateway</html>')).code, 'UPSTREAM_UNAVAILABLE');
  assert.ok((await answer(400, body('UNFRAMEABLE'))) instanceof GroupcastError);
  // The sidecar's address is the edge's business, not its clients'.
  const lost = upstreamError(new UnreachableError(`cannot reach ${origin}: ECONNREFUSED`), origin);
  assert.equal(lost.code, 'UPSTREAM_UNAVAILABLE');
  assert.equal(lost.message, 'cannot reach sidecar: ECONNREFUSED');
});

Deno.test('edge options: defaults, environment, flags, and one clear error naming a bad one', () => {
  const d = resolveEdgeOptions({}, []).options;
  assert.equal(d.port, 7490);
  assert.equal(d.sidecarUrl, 'http://127.0.0.1:7480');
  assert.equal(d.sidecarToken, null);
  assert.ok(Object.isFrozen(d));
  const o = resolveEdgeOptions(
    {
      GROUPCAST_EDGE_PORT: '0',
      GROUPCAST_SIDECAR_URL: 'https://sc.example:7480/',
      GROUPCAST_SIDECAR_TOKEN: 't0k',
    },
    ['--upstream-retry-max', '2s', '--max-message-bytes', '2KiB'],
  ).options;
  assert.equal(o.port, 0);
  assert.equal(o.sidecarUrl, 'https://sc.example:7480');
  assert.equal(o.sidecarToken, 't0k');
  assert.equal(o.upstreamRetryMaxMs, 2000);
  assert.equal(o.maxMessageBytes, 2048);
  assert.throws(
    () => resolveEdgeOptions({ GROUPCAST_SIDECAR_URL: 'redis://x' }, []),
    /sidecarUrl \(GROUPCAST_SIDECAR_URL\)/,
  );
  assert.throws(() => resolveEdgeOptions({ GROUPCAST_EDGE_PORT: 'off' }, []), /port/);
  assert.throws(() => resolveEdgeOptions({}, ['stray']), /arguments/);
  for (const s of EDGE_OPTIONS)
    assert.ok(s.env.startsWith('GROUPCAST_') && s.doc.length > 0, s.key);
});

Deno.test('Prometheus text: HELP and TYPE per metric, escaped labels', () => {
  const text = new PromText()
    .metric('a_total', 'counter', 'A thing', 3)
    .metric('b', 'gauge', 'B', [{ labels: { reason: 'x"y\\z\n' }, value: 1.5 }])
    .toString();
  assert.equal(
    text,
    '# HELP a_total A thing\n# TYPE a_total counter\na_total 3\n# HELP b B\n# TYPE b gauge\nb{reason="x\\"y\\\\z\\n"} 1.5\n',
  );
});
