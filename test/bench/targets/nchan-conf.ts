import { existsSync } from 'node:fs';

const MODULE_DIRS = [
  '/usr/lib/nginx/modules',
  '/usr/share/nginx/modules',
  '/usr/lib64/nginx/modules',
];

/** Path of ngx_nchan_module.so, or null. */
export function nchanModule(): string | null {
  for (const d of MODULE_DIRS) {
    const p = `${d}/ngx_nchan_module.so`;
    if (existsSync(p)) return p;
  }
  return null;
}

/** One worker (like the single-threaded Node targets), no logs, no buffering of the stream. */
export function nginxConf(module: string, dir: string, port: number): string {
  return `load_module ${module};
worker_processes 1;
worker_rlimit_nofile 200000;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
user root;
events { worker_connections 65536; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 600s;
  client_body_buffer_size 1m;
  client_max_body_size 16m;
  nchan_shared_memory_size 256m;
  server {
    listen 127.0.0.1:${port} backlog=65535;
    location = /pub {
      nchan_publisher;
      nchan_channel_id $arg_id;
      nchan_message_buffer_length 4096;
      nchan_message_timeout 30s;
    }
    location = /sub {
      nchan_subscriber eventsource;
      nchan_channel_id $arg_id;
    }
  }
}
`;
}
