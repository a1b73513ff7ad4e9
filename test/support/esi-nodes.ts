// ESI parser output as plain values, for the unit tests and the properties of src/proxy/esi/parser.
import type { EsiNode } from '../../src/proxy/esi/parser.js';

export type Plain = { text: string } | { include: string; alt?: string; continueOnError: boolean };

/** Nodes as plain values, adjacent text merged (how they are split is not part of the result). */
export function plain(nodes: EsiNode[]): Plain[] {
  const out: Plain[] = [];
  for (const node of nodes) {
    if (node.kind === 'text') {
      const last = out[out.length - 1];
      if (last && 'text' in last) last.text += node.data.toString('latin1');
      else out.push({ text: node.data.toString('latin1') });
    } else {
      out.push({ include: node.src, ...(node.alt !== undefined ? { alt: node.alt } : {}), continueOnError: node.continueOnError });
    }
  }
  return out.filter((n) => !('text' in n) || n.text !== '');
}
