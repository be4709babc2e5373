// Copies non-TypeScript runtime assets (Lua scripts, dashboard files) next to the compiled JavaScript.
import { cpSync, mkdirSync } from 'node:fs';

mkdirSync('dist/buffer/scripts', { recursive: true });
cpSync('src/buffer/scripts', 'dist/buffer/scripts', { recursive: true });
mkdirSync('dist/source/scripts', { recursive: true });
cpSync('src/source/scripts', 'dist/source/scripts', { recursive: true });
mkdirSync('dist/observability/dashboard', { recursive: true });
cpSync('src/observability/dashboard', 'dist/observability/dashboard', { recursive: true });
