import { Resolver } from 'node:dns/promises';

/** Looks up the TXT records of a name: each record as the list of its character strings (RFC 1035). */
export type TxtResolver = (name: string) => Promise<string[][]>;

/** The system's DNS, with bounded waits: a verification answers within about ten seconds. */
export function systemTxtResolver(): TxtResolver {
  const resolver = new Resolver({ timeout: 4000, tries: 2 });
  return (name) => resolver.resolveTxt(name);
}
