/** A parsed `WWW-Authenticate` challenge, e.g. `Bearer realm="https://auth",service="reg",scope="…"`. */
export interface Challenge {
  scheme: string; // lowercased: 'basic', 'bearer', …
  params: Record<string, string>; // keys lowercased
}

/**
 * Parses the challenges of one or more `WWW-Authenticate` header values (RFC 7235: auth-params
 * are `key=token` or `key="quoted"`, and several challenges may share one header value).
 */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const value of values) {
    let i = 0;
    const s = value;
    let current: Challenge | undefined;
    const skipWs = (): void => {
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
    };
    while (i < s.length) {
      skipWs();
      if (s[i] === ',') {
        i++;
        continue;
      }
      const tokStart = i;
      while (i < s.length && /[^\s,=]/.test(s[i]!)) i++;
      const token = s.slice(tokStart, i);
      if (token === '') {
        i++;
        continue;
      }
      skipWs();
      if (s[i] === '=' && current) {
        i++;
        skipWs();
        let val = '';
        if (s[i] === '"') {
          i++;
          while (i < s.length && s[i] !== '"') {
            if (s[i] === '\\' && i + 1 < s.length) i++;
            val += s[i];
            i++;
          }
          i++; // closing quote
        } else {
          const vStart = i;
          while (i < s.length && s[i] !== ',' && s[i] !== ' ') i++;
          val = s.slice(vStart, i);
        }
        current.params[token.toLowerCase()] = val;
      } else {
        // A new scheme; a bare token68 after it (e.g. `Negotiate abc==`) is ignored.
        current = { scheme: token.toLowerCase(), params: {} };
        out.push(current);
        if (s[i] !== ',' && i < s.length && /[^\s,]/.test(s[i]!) && !/^[\w-]+\s*=/.test(s.slice(i))) {
          while (i < s.length && s[i] !== ',') i++;
        }
      }
    }
  }
  return out;
}

/** The challenge we act on: Bearer is preferred over Basic when both are offered. */
export function pickChallenge(cs: Challenge[]): Challenge | undefined {
  return cs.find((c) => c.scheme === 'bearer') ?? cs.find((c) => c.scheme === 'basic');
}
