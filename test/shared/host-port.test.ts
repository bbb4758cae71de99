import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatHostPort } from '../../shared/host-port.ts';

test('an IPv6 literal is bracketed so its port stays readable', () => {
  assert.is(formatHostPort('::1', 7400), '[::1]:7400');
  assert.is(formatHostPort('::ffff:10.0.0.1', 1), '[::ffff:10.0.0.1]:1');
  assert.is(formatHostPort('fe80::1%eth0', 65535), '[fe80::1%eth0]:65535');
  assert.is(formatHostPort('2001:db8:0:0:0:0:0:1', 80), '[2001:db8:0:0:0:0:0:1]:80');
});

test('IPv4 addresses and host names are written as they are', () => {
  assert.is(formatHostPort('127.0.0.1', 7480), '127.0.0.1:7480');
  assert.is(formatHostPort('localhost', 0), 'localhost:0');
  assert.is(formatHostPort('sidecar.internal', 7400), 'sidecar.internal:7400');
});

test.run();
