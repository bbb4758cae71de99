import type { Sidecar } from '../../sidecar/server.ts';

// Tests read arbitrary JSON answers.
// biome-ignore lint/suspicious/noExplicitAny: test helper
type Json = any;

export function baseUrl(sc: Sidecar): string {
  return `http://${sc.addresses.http}`;
}

export async function post(
  sc: Sidecar,
  group: string,
  body: BodyInit,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${baseUrl(sc)}/groups/${encodeURIComponent(group)}/messages`, {
    method: 'POST',
    body,
    headers,
    duplex: 'half',
  } as RequestInit);
  return { status: res.status, json: await res.json() };
}

export async function getJson(sc: Sidecar, path: string): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${baseUrl(sc)}${path}`);
  return { status: res.status, json: await res.json() };
}
