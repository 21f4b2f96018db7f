// The user's authenticator app, for the MFA sign-in tests: RFC 6238 codes
// (otpauth) from the secret `enrollTotp` answers, handed out the way the
// server takes them: never in the last seconds of a step (a code could turn
// stale on its way), and never twice for one step (the server's replay guard
// refuses a second code of a step it has accepted one of).
import { Secret, TOTP } from 'otpauth';

const PERIOD_MS = 30_000;
/** No code is handed out with less than this left in its step. */
const MARGIN_MS = 3_000;

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export class Authenticator {
  readonly #totp: TOTP;
  /** The step of the last code handed out. */
  #lastStep = -Infinity;

  constructor(secret: string) {
    this.#totp = new TOTP({
      secret: Secret.fromBase32(secret),
      algorithm: 'SHA1',
      digits: 6,
      period: PERIOD_MS / 1000,
    });
  }

  /**
   * A code of a step no earlier code was for: the current step's, else the
   * next step's (the server accepts one step either side, so a user who
   * signs in twice within 30 s need not wait), else, after waiting for the
   * next step to begin, the one after it.
   */
  async code(): Promise<string> {
    for (;;) {
      const now = Date.now();
      const left = PERIOD_MS - (now % PERIOD_MS);
      if (left >= MARGIN_MS) {
        const current = Math.floor(now / PERIOD_MS);
        const step = [current, current + 1].find((s) => s > this.#lastStep);
        if (step !== undefined) {
          this.#lastStep = step;
          return this.#totp.generate({ timestamp: step * PERIOD_MS });
        }
      }
      await sleep(left + 100);
    }
  }

  /** Six digits that no step the server could be checking answers. */
  wrongCode(): string {
    const current = Math.floor(Date.now() / PERIOD_MS);
    const near = new Set(
      [-2, -1, 0, 1, 2].map((d) => this.#totp.generate({ timestamp: (current + d) * PERIOD_MS })),
    );
    let n = 123456;
    while (near.has(String(n))) n += 1;
    return String(n);
  }
}

/** The claims of an access token (a JWT): the client reads `aal` and `amr`. */
export function claims(accessToken: string): { aal?: string; amr?: string[] } {
  const payload = accessToken.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as never;
}
