/**
 * Maps a path into the config value (`['jobs', 0, 'timeout']`, or an ajv `instancePath`) back
 * to where it was written in the YAML text, so every problem can say `FILE:LINE:COL`. Validation
 * runs on the plain JS value; only this file knows about YAML nodes.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter } from 'yaml';
import type { SourcePosition } from './types.js';

export type PathSegment = string | number;
export type ConfigPath = readonly PathSegment[];

/** The subset of a yaml node this file reads; keeps `unknown` out of the lookups. */
interface Located {
  readonly range?: readonly [number, number, number] | null;
}

interface Found {
  /** The node at the path, or the deepest ancestor that exists. */
  readonly node: unknown;
  /** The key naming the node, when the node is a map value. */
  readonly key: unknown;
  readonly complete: boolean;
}

/** Decodes a JSON Pointer (`/jobs/0/env/A~1B`) into path segments. */
export function pointerToPath(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** The plain JS value at `path`, or undefined when any step is missing. */
export function valueAt(root: unknown, path: ConfigPath): unknown {
  let node = root;
  for (const segment of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[String(segment)];
  }
  return node;
}

export class ConfigLocator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly text: string,
    readonly file: string,
  ) {}

  /** Where the value at `path` starts (its nearest existing ancestor when it is missing). */
  value(path: ConfigPath): SourcePosition {
    const found = this.find(path);
    // An empty value (`timeout:`) has no text of its own; point at its key instead.
    if (found.complete && isScalar(found.node) && found.node.value === null && found.node.source === '') {
      return this.nodePosition(found.key) ?? this.nodePosition(found.node) ?? this.start();
    }
    return this.nodePosition(found.node) ?? this.start();
  }

  /** Where the key naming the entry at `path` is written (for unknown keys and names). */
  key(path: ConfigPath): SourcePosition {
    const found = this.find(path);
    if (!found.complete) return this.nodePosition(found.node) ?? this.start();
    return this.nodePosition(found.key) ?? this.nodePosition(found.node) ?? this.start();
  }

  /**
   * Where character `offset` of the string at `path` is written, when the scalar's source maps
   * one-to-one onto its value (plain, quoted without escapes, literal block); else its start.
   */
  inValue(path: ConfigPath, offset: number): SourcePosition {
    const found = this.find(path);
    if (found.complete && isScalar(found.node) && typeof found.node.value === 'string') {
      const at = this.scalarOffset(found.node.range, found.node.type, found.node.value, offset);
      if (at !== undefined) return this.offsetPosition(at);
    }
    return this.value(path);
  }

  /** Position of a character offset in the text (for YAML syntax errors). */
  offsetPosition(offset: number): SourcePosition {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col };
  }

  private start(): SourcePosition {
    return { file: this.file, line: 1, col: 1 };
  }

  private find(path: ConfigPath): Found {
    let node: unknown = this.doc.contents;
    let key: unknown;
    for (const segment of path) {
      if (isAlias(node)) node = node.resolve(this.doc);
      let next: unknown;
      let nextKey: unknown;
      if (isMap(node)) {
        const pair = node.items.find((item) => keyText(item.key) === String(segment));
        next = pair?.value;
        nextKey = pair?.key;
      } else if (isSeq(node)) {
        next = node.items[Number(segment)];
      }
      if (next === undefined || next === null) return { node, key, complete: false };
      node = next;
      key = nextKey;
    }
    return { node, key, complete: true };
  }

  private nodePosition(node: unknown): SourcePosition | undefined {
    const target = isPair(node) ? node.key : node;
    const range = isLocated(target) ? target.range : undefined;
    return range ? this.offsetPosition(range[0]) : undefined;
  }

  private scalarOffset(
    range: Located['range'],
    type: string | undefined,
    value: string,
    offset: number,
  ): number | undefined {
    if (!range) return undefined;
    const [start, end] = range;
    const raw = this.text.slice(start, end);
    switch (type) {
      case 'PLAIN':
        return raw === value ? start + offset : undefined;
      case 'QUOTE_SINGLE':
      case 'QUOTE_DOUBLE':
        return raw.slice(1, -1) === value ? start + 1 + offset : undefined;
      case 'BLOCK_LITERAL':
        return literalBlockOffset(raw, start, value, offset);
      default:
        return undefined;
    }
  }
}

/**
 * A `|` block keeps its lines verbatim below the header, shifted by the block's indentation.
 * Every line is compared with the value so an unusual block (explicit indentation indicator,
 * CRLF) falls back to the block's start rather than pointing at the wrong column.
 */
function literalBlockOffset(raw: string, start: number, value: string, offset: number): number | undefined {
  const headerEnd = raw.indexOf('\n');
  if (headerEnd < 0) return undefined;
  const bodyLines = raw.slice(headerEnd + 1).split('\n');
  const indent = /^ */.exec(bodyLines.find((line) => line.trim() !== '') ?? '')?.[0].length ?? 0;
  const before = value.slice(0, offset);
  const lineIndex = before.split('\n').length - 1;
  const valueLines = value.split('\n');
  for (let i = 0; i <= lineIndex; i++) {
    if ((bodyLines[i] ?? '').slice(indent) !== valueLines[i]) return undefined;
  }
  let at = start + headerEnd + 1;
  for (let i = 0; i < lineIndex; i++) at += (bodyLines[i] ?? '').length + 1;
  return at + indent + (offset - (before.lastIndexOf('\n') + 1));
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return key === null || key === undefined ? undefined : String(key);
}

function isLocated(node: unknown): node is Located {
  return typeof node === 'object' && node !== null && 'range' in node;
}
