import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkSignature, parseListen, signatureOf, webhookToken } from './webhook-auth.ts';

const SECRET = Buffer.from('s3cret');
const BODY = Buffer.from('{"ref":"refs/heads/main"}');
const GOOD = `sha256=${createHmac('sha256', SECRET).update(BODY).digest('hex')}`;

describe('checkSignature', () => {
  it.each([
    { case: 'X-Signature, as Flux generic-hmac', headers: { 'x-signature': GOOD }, valid: true },
    { case: 'X-Hub-Signature-256, as GitHub and Gitea', headers: { 'x-hub-signature-256': GOOD }, valid: true },
    { case: 'upper-case hex', headers: { 'x-signature': GOOD.toUpperCase().replace('SHA256=', 'sha256=') }, valid: true },
    { case: 'no header', headers: {}, valid: false, problem: /no signature/ },
    { case: 'another secret', headers: { 'x-signature': signatureOf(Buffer.from('other'), BODY) }, valid: false, problem: /does not match/ },
    { case: 'another body', headers: { 'x-signature': signatureOf(SECRET, 'x') }, valid: false, problem: /does not match/ },
    { case: 'sha1, as the old X-Hub-Signature', headers: { 'x-signature': 'sha1=abcdef' }, valid: false, problem: /must read sha256=<64 hex digits>, found "sha1=abcdef"/ },
    { case: 'X-Signature decides when both are present', headers: { 'x-signature': 'sha256=00', 'x-hub-signature-256': GOOD }, valid: false, problem: /must read/ },
  ])('$case', ({ headers, valid, problem }) => {
    const check = checkSignature(SECRET, BODY, headers);
    expect(check.valid).toBe(valid);
    if (!check.valid) expect(check.problem).toMatch(problem!);
  });
});

describe('webhookToken', () => {
  it.each([
    { case: 'another name', other: { namespace: 'default', name: 'rep' } },
    { case: 'another namespace', other: { namespace: 'prod', name: 'repo' } },
    // Plain concatenation would make these two equal.
    { case: 'the same letters split elsewhere', other: { namespace: 'defaultr', name: 'epo' } },
  ])('differs for $case', ({ other }) => {
    const token = webhookToken(SECRET, { namespace: 'default', name: 'repo' });
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(webhookToken(SECRET, other)).not.toBe(token);
  });
  it('differs with another secret', () => {
    expect(webhookToken(Buffer.from('x'), { namespace: 'default', name: 'repo' })).not.toBe(webhookToken(SECRET, { namespace: 'default', name: 'repo' }));
  });
});

describe('parseListen', () => {
  it.each([
    { text: '127.0.0.1:9292', expected: { host: '127.0.0.1', port: 9292 } },
    { text: ':9292', expected: { host: '127.0.0.1', port: 9292 } },
    { text: '0.0.0.0:0', expected: { host: '0.0.0.0', port: 0 } },
    { text: '[::1]:9292', expected: { host: '::1', port: 9292 } },
    { text: 'localhost:80', expected: { host: 'localhost', port: 80 } },
    { text: '9292', expected: undefined },
    { text: '127.0.0.1:70000', expected: undefined },
    { text: '127.0.0.1:', expected: undefined },
  ])('$text', ({ text, expected }) => {
    expect(parseListen(text)).toEqual(expected);
  });
});
