import type { Socket } from 'node:net';
import { TurnList } from '../shared/turn.ts';

/** Sockets corked this turn, uncorked together once the turn's I/O callbacks are done. */
const corked = new TurnList<Socket>((socket) => socket.uncork());

/**
 * Holds a socket's writes until the end of the current event-loop turn, so everything written
 * to it within the turn leaves in one writev: 16 POSTs answered in one turn cost a TCP member
 * one syscall instead of 16 (SSE members get the same from their fan-out). No state is kept
 * per socket beyond Node's own cork count.
 */
export function corkForTurn(socket: Socket): void {
  if (socket.writableCorked > 0) return;
  socket.cork();
  corked.hold(socket);
}

/** A writer holding the one buffer a turn handed it, to write once the turn is done. */
export interface TurnHolder {
  flushTurn(): void;
}

const holding = new TurnList<TurnHolder>((holder) => holder.flushTurn());

/**
 * Calls `holder.flushTurn()` once the current turn's I/O callbacks are done. For a turn that
 * brings a socket one buffer, the common case when a message fans out: a plain write then costs
 * Node's stream about half the garbage of a cork, a buffered write and an uncork (measured:
 * ~0.3 KB instead of ~0.8 KB per delivery), the same one syscall.
 */
export function holdForTurn(holder: TurnHolder): void {
  holding.hold(holder);
}
