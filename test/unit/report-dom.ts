// A strict parser for the report's HTML, for tests that run without a browser:
// every element closed in order, every attribute quoted and unique, every
// entity known, no raw "<" in text. The report is written to pass it (void
// elements self-closed), so a malformed page fails here before a user sees it.
export interface El {
  tag: string;
  attrs: Record<string, string>;
  children: Array<El | string>;
}

const VOID = new Set(['meta', 'br', 'hr', 'img', 'input', 'link']);
const RAW = new Set(['script', 'style']);
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", middot: '\u00b7' };

function decode(s: string, at: number): string {
  return s.replace(/&([^;\s]*);?/g, (m, name: string) => {
    if (!m.endsWith(';') || !(name in ENTITIES)) throw new Error(`unknown or unterminated entity ${JSON.stringify(m)} near offset ${at}`);
    return ENTITIES[name]!;
  });
}

export function parseStrict(html: string): El {
  const doctype = /^<!doctype html>\s*/i.exec(html);
  if (!doctype) throw new Error('no <!doctype html>');
  const root: El = { tag: '#root', attrs: {}, children: [] };
  const stack: El[] = [root];
  let i = doctype[0].length;
  const tagRe = /<([a-zA-Z][\w-]*)((?:\s+[a-zA-Z_:][\w:.-]*="[^"<>]*")*)\s*(\/?)>/y;
  while (i < html.length) {
    const top = stack[stack.length - 1]!;
    if (html.startsWith('</', i)) {
      const end = html.indexOf('>', i);
      const name = html.slice(i + 2, end);
      if (name !== top.tag) throw new Error(`</${name}> closes <${top.tag}> at offset ${i}`);
      stack.pop();
      i = end + 1;
    } else if (html[i] === '<') {
      tagRe.lastIndex = i;
      const t = tagRe.exec(html);
      if (!t) throw new Error(`malformed tag at offset ${i}: ${html.slice(i, i + 80)}`);
      const el: El = { tag: t[1]!, attrs: {}, children: [] };
      for (const a of t[2]!.matchAll(/([a-zA-Z_:][\w:.-]*)="([^"]*)"/g)) {
        if (a[1]! in el.attrs) throw new Error(`duplicate attribute ${a[1]} on <${el.tag}> at offset ${i}`);
        el.attrs[a[1]!] = decode(a[2]!, i);
      }
      top.children.push(el);
      i += t[0].length;
      if (RAW.has(el.tag)) {
        const end = html.indexOf(`</${el.tag}>`, i);
        if (end < 0) throw new Error(`<${el.tag}> never closed`);
        el.children.push(html.slice(i, end));
        i = end + el.tag.length + 3;
      } else if (VOID.has(el.tag) || t[3] === '/') {
        // no children
      } else {
        stack.push(el);
      }
    } else {
      const next = html.indexOf('<', i);
      const end = next < 0 ? html.length : next;
      top.children.push(decode(html.slice(i, end), i));
      i = end;
    }
  }
  if (stack.length !== 1) throw new Error(`unclosed: ${stack.slice(1).map((e) => `<${e.tag}>`).join(' ')}`);
  return root;
}

export function all(el: El, pred: (e: El) => boolean): El[] {
  const out: El[] = [];
  for (const c of el.children) {
    if (typeof c === 'string') continue;
    if (pred(c)) out.push(c);
    out.push(...all(c, pred));
  }
  return out;
}

export function hasClass(e: El, cls: string): boolean {
  return (e.attrs.class ?? '').split(/\s+/).includes(cls);
}

/** Text a reader sees: script and style contents left out. */
export function visibleText(el: El): string {
  return el.children.map((c) => (typeof c === 'string' ? c : RAW.has(c.tag) ? '' : visibleText(c))).join(' ');
}
