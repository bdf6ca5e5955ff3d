"""Real web apps whose sessions the web-session kinds end: Flask + Flask-Session on Redis, Django on PostgreSQL.

Run by test/helpers/web-session-apps.ts as `python3 -I -B web_session_apps.py '<json options>'`; prints
`listening on http://127.0.0.1:<port>` once it serves (port 0: the OS picks), and serves until killed.
Routes: /login?user=NAME signs in and answers {"webSessionKey": ...}; /me answers 200 {"user": ...} or 401.
"""
import json
import sys

options = json.loads(sys.argv[1])


def flask_app():
    import redis
    from flask import Flask, jsonify, request, session
    from flask_session import Session

    app = Flask('flask-session-app')
    app.config.update(
        SESSION_TYPE='redis',
        SESSION_REDIS=redis.Redis.from_url(options['redisUrl']),
        SESSION_KEY_PREFIX=options['keyPrefix'],
    )
    Session(app)

    @app.route('/login')
    def login():
        session.clear()
        session['user'] = request.args['user']
        return jsonify(webSessionKey=session.sid)

    @app.route('/me')
    def me():
        if 'user' in session:
            return jsonify(user=session['user'])
        # What a login_required view does: remember where to go after signing in (Flask-Login's "next").
        session['next'] = '/me'
        return jsonify(signedIn=False), 401

    return app


def django_app():
    import django
    from django.conf import settings
    from django.core.management import call_command
    from urllib.parse import urlparse

    common = dict(
        DEBUG=False,
        SECRET_KEY='test-secret-key-for-the-web-session-suite',
        ALLOWED_HOSTS=['127.0.0.1'],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=['django.contrib.sessions'],
        MIDDLEWARE=['django.contrib.sessions.middleware.SessionMiddleware'],
    )
    if 'redisUrl' in options:
        # Cache sessions on Redis through django-redis (Django 3.2 has no Redis cache of its own).
        settings.configure(
            **common,
            SESSION_ENGINE='django.contrib.sessions.backends.cache',
            CACHES={'default': {'BACKEND': 'django_redis.cache.RedisCache', 'LOCATION': options['redisUrl'], 'KEY_PREFIX': options['keyPrefix']}},
        )
        django.setup()
        from django.core.handlers.wsgi import WSGIHandler
        return WSGIHandler()
    db = urlparse(options['postgresUrl'])
    settings.configure(
        **common,
        SESSION_ENGINE='django.contrib.sessions.backends.db',
        DATABASES={
            'default': {
                'ENGINE': 'django.db.backends.postgresql',
                'NAME': db.path.lstrip('/'),
                'USER': db.username or '',
                'PASSWORD': db.password or '',
                'HOST': db.hostname,
                'PORT': str(db.port or 5432),
                # The test's own schema: django_session and django_migrations are made there and go with it.
                'OPTIONS': {'options': '-c search_path=' + options['schema']},
            }
        },
    )
    django.setup()
    call_command('migrate', 'sessions', verbosity=0)
    from django.core.handlers.wsgi import WSGIHandler
    return WSGIHandler()


def login(request):
    from django.http import JsonResponse
    # What django.contrib.auth.login() does to the session: a new key for the signed-in session.
    request.session.cycle_key()
    request.session['user'] = request.GET['user']
    request.session.save()
    return JsonResponse({'webSessionKey': request.session.session_key})


def me(request):
    from django.http import JsonResponse
    if 'user' in request.session:
        return JsonResponse({'user': request.session['user']})
    request.session['next'] = '/me'
    return JsonResponse({'signedIn': False}, status=401)


if options['app'] == 'django':
    from django.urls import path
    urlpatterns = [path('login', login), path('me', me)]

if __name__ == '__main__':
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    application = flask_app() if options['app'] == 'flask' else django_app()
    server = make_server('127.0.0.1', 0, application, handler_class=Quiet)
    print('listening on http://127.0.0.1:%d' % server.server_port, flush=True)
    server.serve_forever()
