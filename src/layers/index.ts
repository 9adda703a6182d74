/**
 * The blocks networks are built from, as graph-builder functions (`Sym → Sym`), usable on their
 * own to compose other networks the way the Keras tutorial composes Inception blocks with the
 * Keras functional API: the basic blocks (`basic.ts`), GoogLeNet's Inception module and
 * auxiliary classifier (`inception.ts`), Inception v3's modules A–E and its auxiliary classifier
 * (`inception-v3.ts`).
 */
export * from './basic.js';
export * from './inception.js';
export * from './inception-v3.js';
