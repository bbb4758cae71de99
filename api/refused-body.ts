/**
 * A body refused by its size (413, known from Content-Length before any of it is read) ends the
 * connection: the server would otherwise read the rest of the body, however large, and throw it
 * away to keep the connection for another request. Node and Deno both honour the header.
 */
export function closeIfRefusedBody(res: Response): Response {
  if (res.status === 413) res.headers.set('Connection', 'close');
  return res;
}
