/**
 * The TwiML subset the dialer uses (telephony.md §3): <Say>, <Pause>, <Hangup>, <Redirect> and
 * <Dial action timeout> with <Client>, <Number> or <Sip> children.
 *
 * No XML parser is a dependency of the project (only xmlbuilder, which writes XML), so this file
 * has a small, strict one: elements, attributes, text, the five named entities and numeric
 * character references, comments, CDATA and processing instructions. It rejects what TwiML never
 * contains (DOCTYPE, unknown entities) instead of guessing.
 */

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
}
export type XmlNode = XmlElement | string;

export class TwimlParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TwimlParseError';
  }
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const NAME = /[A-Za-z_:][\w:.-]*/y;
const MAX_DEPTH = 64;

function decodeEntities(text: string, at: number): string {
  return text.replace(/&([^;&\s]*);?/g, (match, ref: string) => {
    if (!match.endsWith(';')) throw new TwimlParseError(`unterminated entity "${match}" near offset ${at}`);
    const code = /^#x[0-9a-f]+$/i.test(ref)
      ? parseInt(ref.slice(2), 16)
      : /^#\d+$/.test(ref)
        ? parseInt(ref.slice(1), 10)
        : undefined;
    if (code !== undefined) {
      if (code > 0x10ffff) throw new TwimlParseError(`invalid character reference "${match}"`);
      return String.fromCodePoint(code);
    }
    const named = NAMED_ENTITIES[ref];
    if (named === undefined) throw new TwimlParseError(`unknown entity "${match}" near offset ${at}`);
    return named;
  });
}

class XmlReader {
  private pos = 0;
  constructor(private readonly src: string) {}

  parseDocument(): XmlElement {
    if (this.src.charCodeAt(0) === 0xfeff) this.pos = 1;
    this.skipMisc();
    if (this.src.startsWith('<!DOCTYPE', this.pos)) this.fail('DOCTYPE is not allowed in TwiML');
    if (this.src[this.pos] !== '<') this.fail('expected the root element');
    const root = this.parseElement(0);
    this.skipMisc();
    if (this.pos < this.src.length) this.fail('unexpected content after the root element');
    return root;
  }

  private fail(message: string): never {
    throw new TwimlParseError(`${message} (at offset ${this.pos})`);
  }

  private skipWhitespace(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos] ?? '')) this.pos++;
  }

  /** Whitespace, comments and processing instructions (including the XML declaration). */
  private skipMisc(): void {
    for (;;) {
      this.skipWhitespace();
      if (this.src.startsWith('<!--', this.pos)) this.skipPast('-->');
      else if (this.src.startsWith('<?', this.pos)) this.skipPast('?>');
      else return;
    }
  }

  private skipPast(terminator: string): string {
    const end = this.src.indexOf(terminator, this.pos);
    if (end < 0) this.fail(`missing "${terminator}"`);
    const skipped = this.src.slice(this.pos, end);
    this.pos = end + terminator.length;
    return skipped;
  }

  private readName(): string {
    NAME.lastIndex = this.pos;
    const m = NAME.exec(this.src);
    if (!m) this.fail('expected a name');
    this.pos += m[0].length;
    return m[0];
  }

  private parseElement(depth: number): XmlElement {
    if (depth > MAX_DEPTH) this.fail('elements nested too deeply');
    this.pos++; // '<'
    const name = this.readName();
    const attrs: Record<string, string> = {};
    for (;;) {
      const before = this.pos;
      this.skipWhitespace();
      const c = this.src[this.pos];
      if (c === '/' && this.src[this.pos + 1] === '>') {
        this.pos += 2;
        return { name, attrs, children: [] };
      }
      if (c === '>') {
        this.pos++;
        break;
      }
      if (c === undefined) this.fail(`unterminated <${name}>`);
      if (this.pos === before) this.fail('expected whitespace before an attribute');
      const attr = this.readName();
      this.skipWhitespace();
      if (this.src[this.pos] !== '=') this.fail(`attribute "${attr}" has no value`);
      this.pos++;
      this.skipWhitespace();
      const quote = this.src[this.pos];
      if (quote !== '"' && quote !== "'") this.fail(`attribute "${attr}" value must be quoted`);
      const end = this.src.indexOf(quote, this.pos + 1);
      if (end < 0) this.fail(`unterminated value of attribute "${attr}"`);
      const raw = this.src.slice(this.pos + 1, end);
      if (raw.includes('<')) this.fail(`"<" in the value of attribute "${attr}"`);
      if (Object.hasOwn(attrs, attr)) this.fail(`duplicate attribute "${attr}"`);
      attrs[attr] = decodeEntities(raw, this.pos);
      this.pos = end + 1;
    }
    const children: XmlNode[] = [];
    for (;;) {
      if (this.pos >= this.src.length) this.fail(`missing </${name}>`);
      if (this.src.startsWith('</', this.pos)) {
        this.pos += 2;
        const closing = this.readName();
        if (closing !== name) this.fail(`</${closing}> does not close <${name}>`);
        this.skipWhitespace();
        if (this.src[this.pos] !== '>') this.fail(`malformed </${name}>`);
        this.pos++;
        return { name, attrs, children };
      }
      if (this.src.startsWith('<!--', this.pos)) this.skipPast('-->');
      else if (this.src.startsWith('<![CDATA[', this.pos)) {
        this.pos += '<![CDATA['.length;
        children.push(this.skipPast(']]>'));
      } else if (this.src.startsWith('<?', this.pos)) this.skipPast('?>');
      else if (this.src[this.pos] === '<') children.push(this.parseElement(depth + 1));
      else {
        const next = this.src.indexOf('<', this.pos);
        const end = next < 0 ? this.src.length : next;
        children.push(decodeEntities(this.src.slice(this.pos, end), this.pos));
        this.pos = end;
      }
    }
  }
}

export function parseXml(text: string): XmlElement {
  return new XmlReader(text).parseDocument();
}

export interface DialTarget {
  kind: 'client' | 'number' | 'sip';
  /** The key the scenario's `agents` map uses: 'client:<identity>', 'sip:<address>' or the number. */
  key: string;
}

export type Verb =
  | { verb: 'Say'; text: string; seconds: number }
  | { verb: 'Pause'; seconds: number }
  | { verb: 'Hangup' }
  | { verb: 'Redirect'; url: string; method: HttpMethod }
  | {
      verb: 'Dial';
      timeoutSeconds: number;
      action?: string;
      method: HttpMethod;
      targets: DialTarget[];
    }
  | { verb: 'Unsupported'; name: string };

export type HttpMethod = 'GET' | 'POST';

// Speech at ~150 words a minute: long enough that a <Say> takes visible time in a dry run.
const WORDS_PER_SECOND = 2.5;
// Twilio's <Dial> rings for 30 s unless told otherwise, and allows at most 600 s.
const DIAL_DEFAULT_TIMEOUT = 30;
const DIAL_MAX_TIMEOUT = 600;

function textOf(el: XmlElement): string {
  return el.children
    .map((c) => (typeof c === 'string' ? c : textOf(c)))
    .join('')
    .trim();
}

function method(value: string | undefined, where: string): HttpMethod {
  if (value === undefined) return 'POST';
  const upper = value.toUpperCase();
  if (upper !== 'GET' && upper !== 'POST') throw new TwimlParseError(`${where}: method must be GET or POST`);
  return upper;
}

function nonNegative(value: string | undefined, fallback: number, where: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new TwimlParseError(`${where} must be a non-negative number`);
  return n;
}

function dialTargets(dial: XmlElement): DialTarget[] {
  const targets: DialTarget[] = [];
  for (const child of dial.children) {
    if (typeof child === 'string') {
      // <Dial>+15551234567</Dial> is shorthand for a single <Number>.
      const number = child.trim();
      if (number) targets.push({ kind: 'number', key: number });
      continue;
    }
    if (child.name === 'Number') targets.push({ kind: 'number', key: textOf(child) });
    else if (child.name === 'Sip') targets.push({ kind: 'sip', key: textOf(child) });
    else if (child.name === 'Client') {
      // A <Client> names its identity as text or, with parameters, in an <Identity> child.
      const identityEl = child.children.find(
        (c): c is XmlElement => typeof c !== 'string' && c.name === 'Identity',
      );
      const identity = identityEl
        ? textOf(identityEl)
        : child.children
            .filter((c): c is string => typeof c === 'string')
            .join('')
            .trim();
      targets.push({ kind: 'client', key: `client:${identity}` });
    } else throw new TwimlParseError(`<Dial> cannot contain <${child.name}> in the simulator's subset`);
  }
  if (targets.length === 0) throw new TwimlParseError('<Dial> has nothing to dial');
  for (const t of targets) {
    if (t.key === '' || t.key === 'client:') throw new TwimlParseError(`<Dial> has an empty <${t.kind}>`);
  }
  return targets;
}

/** Parses a TwiML document into the verbs the simulator executes, in order. */
export function parseTwiml(xml: string): Verb[] {
  const root = parseXml(xml);
  if (root.name !== 'Response') throw new TwimlParseError(`root element is <${root.name}>, not <Response>`);
  const verbs: Verb[] = [];
  for (const node of root.children) {
    if (typeof node === 'string') {
      if (node.trim()) throw new TwimlParseError('text directly inside <Response>');
      continue;
    }
    const a = node.attrs;
    switch (node.name) {
      case 'Say': {
        const text = textOf(node);
        const loop = Math.floor(nonNegative(a.loop, 1, '<Say loop>'));
        const words = text.split(/\s+/).filter(Boolean).length;
        // loop="0" means "until the call ends" in Twilio; 1000 repetitions is that, in practice.
        const seconds = Math.max(1, words / WORDS_PER_SECOND) * (loop === 0 ? 1000 : loop);
        verbs.push({ verb: 'Say', text, seconds });
        break;
      }
      case 'Pause':
        verbs.push({ verb: 'Pause', seconds: nonNegative(a.length, 1, '<Pause length>') });
        break;
      case 'Hangup':
        verbs.push({ verb: 'Hangup' });
        break;
      case 'Redirect': {
        const url = textOf(node);
        if (!url) throw new TwimlParseError('<Redirect> needs a URL');
        verbs.push({ verb: 'Redirect', url, method: method(a.method, '<Redirect>') });
        break;
      }
      case 'Dial':
        verbs.push({
          verb: 'Dial',
          timeoutSeconds: Math.min(
            DIAL_MAX_TIMEOUT,
            nonNegative(a.timeout, DIAL_DEFAULT_TIMEOUT, '<Dial timeout>'),
          ),
          action: a.action,
          method: method(a.method, '<Dial>'),
          targets: dialTargets(node),
        });
        break;
      default:
        verbs.push({ verb: 'Unsupported', name: node.name });
    }
  }
  return verbs;
}
