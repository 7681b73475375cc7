import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { type PeerSocket, RequestContext } from '../../src/modules/pipeline/context.js';
import { captureLog } from '../support/log.js';

/** A client's answer as the context watches it: closes, finished or not. */
class Answer extends EventEmitter {
  writableFinished = false;
}

function contextFor(answer: Answer, clientIp: string | PeerSocket = '') {
  return new RequestContext({
    id: 'r1',
    method: 'GET',
    target: '/',
    headers: {},
    scheme: 'http',
    clientIp,
    body: null,
    log: captureLog().log,
    answer,
  });
}

describe('a request context watching for its client going away', () => {
  it('tells the listeners still registered, once, when the answer closes unfinished', () => {
    const answer = new Answer();
    const ctx = contextFor(answer);
    const told: string[] = [];
    const a = () => told.push('a');
    const b = () => told.push('b');
    const c = () => told.push('c');
    ctx.onClientGone(a);
    ctx.onClientGone(b);
    ctx.onClientGone(c);
    ctx.offClientGone(b);
    expect(answer.listenerCount('close')).toBe(1);
    answer.emit('close');
    answer.emit('close');
    expect(told).toEqual(['a', 'c']);
    expect(ctx.clientGone).toBe(true);
  });

  it('tells nobody when the answer closes finished, or the one listener was removed', () => {
    const finished = new Answer();
    const ctx = contextFor(finished);
    let told = 0;
    ctx.onClientGone(() => told++);
    finished.writableFinished = true;
    finished.emit('close');
    expect(told).toBe(0);
    expect(ctx.clientGone).toBe(false);

    const cut = new Answer();
    const other = contextFor(cut);
    const listener = () => told++;
    other.onClientGone(listener);
    other.offClientGone(listener);
    cut.emit('close');
    expect(told).toBe(0);
    expect(other.clientGone).toBe(true);
  });

  it('does not watch the answer until asked', () => {
    const answer = new Answer();
    contextFor(answer);
    expect(answer.listenerCount('close')).toBe(0);
  });

  it("reads the peer's address from its socket when first asked", () => {
    const socket = { remoteAddress: '192.0.2.7' };
    const ctx = contextFor(new Answer(), socket);
    socket.remoteAddress = '192.0.2.8';
    expect(ctx.clientIp).toBe('192.0.2.8');
    socket.remoteAddress = '192.0.2.9';
    expect(ctx.clientIp).toBe('192.0.2.8');
    expect(contextFor(new Answer(), {}).clientIp).toBe('');
  });
});
