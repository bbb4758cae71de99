/**
 * One log event as one readable line of text, for people at a terminal: the message, then what
 * it is about (group, transport, address) as plain words, then any other detail as key=value.
 * `join` with `{ group: 'lobby', transport: 'tcp', remote: '127.0.0.1:52878' }` reads
 * `join lobby tcp 127.0.0.1:52878`. Time and level are the prettifier's; the JSON form keeps
 * every field as it is.
 */

/** Fields the line does not repeat: the prettifier's own, and ids only a machine correlates. */
const SKIP = new Set(['time', 'level', 'msg', 'pid', 'hostname', 'member']);
/** What an event is about, in this order, shown as bare words. */
const SUBJECT = ['group', 'transport', 'remote', 'address'];

export function eventText(record: Readonly<Record<string, unknown>>): string {
  const msg = typeof record.msg === 'string' ? record.msg : '';
  const words = [msg];
  const said = (text: string) => text !== '' && msg.includes(text);
  for (const key of SUBJECT) {
    const value = record[key];
    if (value === undefined || value === null) continue;
    const text = String(value);
    if (!said(text)) words.push(text);
  }
  for (const [key, value] of Object.entries(record)) {
    if (SKIP.has(key) || SUBJECT.includes(key) || value === undefined || value === null) continue;
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    if (said(text)) continue;
    words.push(`${key}=${/^[^\s"=]+$/.test(text) ? text : JSON.stringify(text)}`);
  }
  return words.filter((w) => w !== '').join(' ');
}
