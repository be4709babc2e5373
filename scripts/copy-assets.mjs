// Copies non-TypeScript runtime assets (Lua scripts) next to the compiled JavaScript.
import { cpSync, mkdirSync } from 'node:fs';

mkdirSync('dist/buffer/scripts', { recursive: true });
cpSync('src/buffer/scripts', 'dist/buffer/scripts', { recursive: true });
