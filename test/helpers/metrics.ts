/**
 * Reads a server's `GET /metrics`, checking that it is Prometheus text (format 0.0.4)
 * line by line, so tests can both validate the exposition and read values from it.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  help: Map<string, string>;
  types: Map<string, string>;
  samples: Sample[];
}

const metricName = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const helpLine = new RegExp(`^# HELP (${metricName}) (.*)$`);
const typeLine = new RegExp(`^# TYPE (${metricName}) (counter|gauge|histogram|summary|untyped)$`);
const sampleLine = new RegExp(`^(${metricName})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`);
const labelPair = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(?:,|$)/;
const suffixes: Record<string, string[]> = {
  counter: ['_total', ''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

/** As Prometheus reads values (Go's ParseFloat): Inf and NaN in any letter case. */
function parseValue(text: string, line: string): number {
  if (/^\+?inf$/i.test(text)) return Infinity;
  if (/^-inf$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad sample value in: ${line}`);
  return Number(text);
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest !== '') {
    const match = labelPair.exec(rest);
    if (!match) throw new Error(`bad labels in: ${line}`);
    labels[match[1] as string] = (match[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    rest = rest.slice(match[0].length);
  }
  return labels;
}

/** Parses the text; throws on any line that is not valid exposition format. */
export function parseExposition(text: string): Exposition {
  const help = new Map<string, string>();
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let match: RegExpExecArray | null;
    if ((match = helpLine.exec(line))) {
      if (help.has(match[1] as string)) throw new Error(`HELP twice for ${match[1]}`);
      help.set(match[1] as string, match[2] as string);
    } else if ((match = typeLine.exec(line))) {
      if (types.has(match[1] as string)) throw new Error(`TYPE twice for ${match[1]}`);
      types.set(match[1] as string, match[2] as string);
    } else if (line.startsWith('#')) {
      continue; // a comment
    } else if ((match = sampleLine.exec(line))) {
      const name = match[1] as string;
      const family = [...types].find(([base, type]) =>
        (suffixes[type] ?? ['']).some((suffix) => name === base + suffix),
      );
      if (!family) throw new Error(`sample before (or without) its TYPE line: ${line}`);
      samples.push({ name, labels: parseLabels(match[2] ?? '', line), value: parseValue(match[3] as string, line) });
    } else {
      throw new Error(`not a Prometheus text line: ${JSON.stringify(line)}`);
    }
  }
  return { help, types, samples };
}

/** The sum of the samples named `name` whose labels include `labels` (0 when there is none). */
export function valueOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  return exposition.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

export async function scrape(baseUrl: string): Promise<Exposition> {
  const res = await fetch(new URL('/metrics', baseUrl));
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  return parseExposition(await res.text());
}

/** One metric's current value, read from `GET /metrics`. */
export async function metric(baseUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return valueOf(await scrape(baseUrl), name, labels);
}
