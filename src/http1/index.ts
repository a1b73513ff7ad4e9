// The protocol engine, socket-free: bytes in, messages out; messages in, bytes out.
export * from './headers.js';
export * from './message.js';
export * from './parser.js';
export * from './serializer.js';
export * from './semantics.js';
